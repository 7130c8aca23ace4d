"""What every tier shares and no app owns: settings helpers, AWS clients, queue depth, the failure rules, the loop of
long-running commands. It imports none of the apps, so any of them (and production code) may import it."""
