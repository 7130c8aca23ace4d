"""`manage.py autoscale`: the fleet follows the `classify` queue, between --min and --max workers."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from autoscale import prices
from autoscale.controller import Controller, Decision, seconds_to_next_tick
from autoscale.demand import RecordedDemand
from autoscale.fleet_log import FleetLog
from autoscale.lock import AlreadyRunning, fleet_lock
from autoscale.models import ScalingEvent
from autoscale.policy import POLICIES, Policy, make_policy
from autoscale.providers.base import Provider
from common import aws
from common.loop import LoopCommand
from common.queues import SqsQueueDepth


class Command(LoopCommand):
    help = "Scale the worker fleet to the classify queue's backlog (waiting + in flight)."
    last_decision: Decision | None = None  # the latest tick's, which sets the pause before the next

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--provider", choices=["ec2", "asg", "local"], default=settings.AUTOSCALE_PROVIDER)
        parser.add_argument("--policy", choices=POLICIES, default=settings.AUTOSCALE_POLICY)
        parser.add_argument(
            "--target-wait", type=float, default=settings.AUTOSCALE_TARGET_WAIT, metavar="SECONDS",
            help="latency policy: the p95 queue wait to aim for once workers exist",
        )  # fmt: skip
        parser.add_argument("--min", type=int, default=settings.AUTOSCALE_MIN, dest="minimum")
        parser.add_argument("--max", type=int, default=settings.AUTOSCALE_MAX, dest="maximum")
        parser.add_argument("--interval", type=float, default=settings.AUTOSCALE_INTERVAL, help="seconds per tick")
        parser.add_argument("--once", action="store_true", help="one tick, then exit")
        parser.add_argument("--standby", action="store_true",
                            help="where another autoscaler holds the fleet's lock, wait and take over when it stops "
                                 "(every web host runs one; one works) instead of refusing to start")  # fmt: skip
        parser.add_argument("--dry-run", action="store_true", help="decide and print, change nothing")
        simulation = parser.add_argument_group(
            "simulation (virtual clock, fake provider: every policy, and the cheapest fixed fleet as yardstick)"
        )
        simulation.add_argument(
            "--simulate",
            metavar="TRACE",
            help="burst100, poisson, diurnal, spike, or a CSV of arrival times (column t; optional count, service)",
        )
        simulation.add_argument("--rate", type=float, default=2.0, help="mean arrivals per second (named traces)")
        simulation.add_argument(
            "--service-time", type=float, default=0.08,
            help="seconds per image per worker (bench/pipeline.py measured 0.08 through the stack)",
        )  # fmt: skip
        simulation.add_argument("--boot", type=float, help="boot delay (default: 60 s for ec2, 5 s for local)")
        simulation.add_argument("--chart", default="var/simulation.png", help="where to write the PNG chart")
        simulation.add_argument(
            "--from-priors", action="store_true",
            help="the latency policy starts from the shipped priors (AUTOSCALE_SERVICE_SECONDS, "
                 "AUTOSCALE_BOOT_SECONDS), as a new deployment's first burst does, instead of the trace's own times",
        )  # fmt: skip
        simulation.add_argument("--json", action="store_true", help="print the results as one JSON document")
        mixes = parser.add_argument_group(
            "capacity mixes (each policy runs on on-demand, on spot, and on spot with a warm pool), and their prices"
        )
        mixes.add_argument(
            "--warm-pool",
            type=int,
            default=3,
            metavar="N",
            help="the warm pool's prepared capacity: it keeps N less the workers in service stopped and initialised, "
            "and launches start those first (default 3)",
        )
        mixes.add_argument(
            "--warm-boot",
            type=float,
            default=10.0,
            metavar="SECONDS",
            help="a warm pool start to taking work (default 10 s)",
        )
        mixes.add_argument(
            "--interruptions",
            type=float,
            default=0.05,
            metavar="RATE",
            help="spot interruptions per instance-hour (default 0.05: 5 per 100 instance-hours)",
        )
        mixes.add_argument("--seed", type=int, default=1, help="arrivals and interruptions are the same for a seed")
        mixes.add_argument(
            "--on-demand-price",
            type=float,
            default=prices.ON_DEMAND_HOURLY,
            metavar="USD",
            help=f"per instance-hour (default {prices.ON_DEMAND_HOURLY}: t3.medium, us-east-1)",
        )
        mixes.add_argument(
            "--spot-price",
            type=float,
            metavar="USD",
            help=f"per instance-hour (default {prices.SPOT_FRACTION * 100:.0f}%% of the on-demand price)",
        )
        mixes.add_argument(
            "--volume-price", type=float, default=prices.VOLUME_HOURLY, metavar="USD",
            help=f"per instance-hour of one instance's root volume, running or stopped: all a stopped warm instance "
                 f"costs (default {prices.VOLUME_HOURLY:.6f}: {prices.VOLUME_GIB:g} GiB gp3 at "
                 f"${prices.GIB_MONTH}/GiB-month)",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        if options["simulate"]:
            self.simulate(options)
            return
        try:
            policy = self.make_policy(options["policy"], options)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if options["interval"] <= 0:
            raise CommandError("--interval must be positive")
        if options["provider"] == "asg" and options["minimum"] > 0:
            raise CommandError("the asg provider runs with --min 0: a floor of workers belongs in the group's MinSize")
        provider = self.make_provider(options["provider"])
        # Only the latency policy reads the load from the database: the others keep scaling through its outages.
        demand = RecordedDemand.from_settings() if options["policy"] == "latency" else None
        controller = Controller(
            policy, provider, self.make_queue_depth(), time.time, demand=demand, dry_run=options["dry_run"]
        )
        fleet = f"{options['provider']}-{settings.SQS_QUEUE_PREFIX}"
        standing_by = False
        self.catch_stop_signals()
        while not self.stopping:
            try:
                with fleet_lock(fleet, settings.VAR_DIR) as check_lock:
                    if standing_by:
                        self.say("took over the fleet: the autoscaler that held it stopped")
                    self.check_lock = check_lock
                    self.run(controller, options)
                    return
            except AlreadyRunning as exc:
                if not options["standby"]:
                    raise CommandError(f"{exc}; not starting a second one") from None
                if not standing_by:
                    self.say(f"standing by: {exc}")
                    standing_by = True
                self.pause(options["interval"])

    def simulate(self, options: dict[str, Any]) -> None:
        from pathlib import Path

        from autoscale import chart, traces
        from autoscale.simulator import Capacity, Report, cheapest_fixed_fleet, simulate

        boot = options["boot"] if options["boot"] is not None else (60.0 if options["provider"] != "local" else 5.0)
        if options["service_time"] <= 0 or boot < 0:
            raise CommandError("--service-time must be positive and --boot not negative")
        if options["warm_pool"] < 0 or options["warm_boot"] < 0 or options["interruptions"] < 0:
            raise CommandError("--warm-pool, --warm-boot and --interruptions cannot be negative")
        # The simulated deployment has served and launched before: its recorded results and launches give the
        # latency policy the trace's service and boot times from the first tick, as a running one's database would.
        # --from-priors: a new deployment, with nothing recorded yet.
        known = {"service_prior": options["service_time"], "boot_prior": max(boot, 0.1),
                 "warm_boot_prior": max(options["warm_boot"], 0.1)}  # fmt: skip
        priors = {} if options["from_priors"] else known
        on_demand = options["on_demand_price"]
        spot = options["spot_price"] if options["spot_price"] is not None else on_demand * prices.SPOT_FRACTION
        mixes = [Capacity(), Capacity(prices.Market.SPOT)]
        if options["warm_pool"]:
            mixes.append(Capacity(prices.Market.SPOT, options["warm_pool"]))
        try:
            trace = traces.load(options["simulate"], options["rate"])
            rates = prices.Prices(on_demand, spot, options["volume_price"])
            for name in POLICIES:  # a policy the options cannot make (a target wait of 0) is refused before any run
                self.make_policy(name, options, **priors)
        except (ValueError, OSError, KeyError) as exc:
            raise CommandError(f"cannot simulate {options['simulate']!r}: {exc}") from None
        started = time.monotonic()
        timing = {
            "service_time": options["service_time"],
            "boot_seconds": boot,
            "idle_seconds": settings.WORKER_IDLE_SECONDS,
            "interval": options["interval"],
            "idle_interval": settings.AUTOSCALE_IDLE_INTERVAL,
            "seed": options["seed"],
        }
        spot_terms = {"warm_boot_seconds": options["warm_boot"], "interruptions_per_hour": options["interruptions"],
                      "prices": rates}  # fmt: skip
        reports = [simulate(self.make_policy(name, options, **priors), trace, capacity=mix, **timing, **spot_terms)
                   for mix in mixes for name in POLICIES]  # fmt: skip
        path = Path(options["chart"])
        chart.draw(reports, f"trace {trace.name}: queue depth and workers over time", path)
        if options["json"]:
            self.stdout.write(json.dumps({
                "trace": trace.name, "service_time": options["service_time"], "boot_s": boot,
                "warm_boot_s": options["warm_boot"], "warm_pool": options["warm_pool"],
                "interruptions_per_instance_hour": options["interruptions"], "seed": options["seed"],
                "from_priors": options["from_priors"], "prices_per_hour": dataclasses.asdict(rates),
                "results": [report.summary() for report in reports], "chart": str(path),
            }, indent=2))  # fmt: skip
            return
        self.stdout.write(
            f"trace {trace.name}: service {options['service_time']:g} s/image, boot {boot:g} s "
            f"(warm pool start {options['warm_boot']:g} s), idle retirement {settings.WORKER_IDLE_SECONDS:g} s, "
            f"tick {options['interval']:g} s, workers {options['minimum']}..{options['maximum']}; per hour: "
            f"on-demand ${on_demand:g}, spot ${spot:g} ({options['interruptions']:g} interruptions per instance-hour), "
            f"volume ${rates.volume:.6f}"
            + ("; the latency policy starts from the shipped priors" if options["from_priors"] else "")
        )
        fixed_runs: dict[int, Report] = {}
        for mix in mixes:
            self.stdout.write(f"{mix.name}:")
            for report in (report for report in reports if report.capacity == mix.name):
                if mix != Capacity():
                    self.stdout.write(report.line())
                    continue
                hindsight = cheapest_fixed_fleet(trace, report.wait_p95, options["maximum"], fixed_runs, **timing)
                ratio = hindsight.ratio(report)
                yardstick = (f"{ratio:.2f} x the cheapest fixed fleet reaching that p95 ({hindsight.report.policy}, "
                             f"{hindsight.report.instance_seconds:,.0f})" if hindsight.report and ratio is not None
                             else "no fixed fleet up to the cap reaches that p95")  # fmt: skip
                self.stdout.write(f"{report.line()}; {yardstick}")
        by_run = {(report.policy, report.capacity): report for report in reports}
        step, cheapest = by_run["step", mixes[0].name], by_run["latency", mixes[-1].name]
        if step.dollars:
            self.stdout.write(
                f"latency on {cheapest.capacity}: {cheapest.dollars / step.dollars:.2f} x the dollars of step on "
                f"on-demand, p95 wait {cheapest.wait_p95:.1f} s against {step.wait_p95:.1f} s"
            )
        self.stdout.write(f"chart: {path}   (simulated in {time.monotonic() - started:.1f} s)")

    def run(self, controller: Controller, options: dict[str, Any]) -> None:
        self.attach(controller, options)
        self.stdout.write(
            f"autoscaling {options['provider']} workers with the {options['policy']} policy, "
            f"{options['minimum']}..{options['maximum']}, every {options['interval']:g} s"
        )
        self.run_loop(options["interval"], once=options["once"])

    def attach(self, controller: Controller, options: dict[str, Any]) -> None:
        """What each tick uses: the controller, and where its decisions are written down."""
        self.controller = controller
        self.provider_name, self.policy_name = options["provider"], options["policy"]
        # A dry run changes nothing, the database's samples included: the status page would show a fleet nobody is
        # scaling (its decisions still appear as dry-run ScalingEvents, marked as such).
        self.fleet_log = None if options["dry_run"] else FleetLog(options["provider"], options["policy"])
        if not hasattr(self, "check_lock"):
            self.check_lock = lambda: None  # driven without the lock (a test, one tick at a time)

    def tick(self) -> Decision:
        """Observe, decide, act (the controller), then write it down: a line, a ScalingEvent for a change, a sample.
        First, that this is still the fleet's one autoscaler (a database outage may have ended the lock's session)."""
        try:
            self.check_lock()
        except AlreadyRunning as exc:
            raise CommandError(f"{exc}: it took over while the database was away; stopping") from None
        decision = self.last_decision = self.controller.tick()
        self.say(decision.line())
        if decision.changes_fleet:
            o = decision.observation
            ScalingEvent.objects.create(
                provider=self.provider_name, policy=self.policy_name, action=decision.action,
                visible=o.visible, in_flight=o.in_flight, running=o.running, pending=o.pending,
                desired=decision.desired, instance_ids=decision.instance_ids, error=decision.error,
                dry_run=decision.dry_run,
            )  # fmt: skip
        if self.fleet_log is not None:
            self.fleet_log.record(decision)
        return decision

    def next_pause(self, interval: float) -> float:
        if self.last_decision is None:
            return interval
        return seconds_to_next_tick(self.last_decision, interval, settings.AUTOSCALE_IDLE_INTERVAL)

    def make_policy(self, name: str, options: dict[str, Any], **priors: float) -> Policy:
        """`priors`: service_prior, boot_prior, warm_boot_prior where known (the simulator's); the settings' otherwise
        (the warm pool's start has no setting yet: the policy's own prior)."""
        shipped = {"service_prior": settings.AUTOSCALE_SERVICE_SECONDS, "boot_prior": settings.AUTOSCALE_BOOT_SECONDS}
        return make_policy(
            name, options["minimum"], options["maximum"],
            target=settings.AUTOSCALE_TARGET_BACKLOG, scale_in_window=settings.AUTOSCALE_SCALE_IN_WINDOW,
            target_wait=options["target_wait"], **{**shipped, **priors},
        )  # fmt: skip

    def make_provider(self, name: str) -> Provider:
        if name == "local":
            from autoscale.providers.local import LocalProvider

            return LocalProvider.from_settings()
        from autoscale.providers.asg import AsgProvider
        from autoscale.providers.ec2 import Ec2Provider

        try:
            if name == "asg":
                return AsgProvider.from_settings(aws.client("autoscaling"), aws.client("ec2"))
            return Ec2Provider.from_settings(aws.client("ec2"))
        except ValueError as exc:
            raise CommandError(str(exc)) from None

    def make_queue_depth(self) -> SqsQueueDepth:
        # Reads nothing yet: an endpoint that is down, or a queue not yet provisioned, is a failed tick, retried.
        return SqsQueueDepth(aws.client("sqs"), settings.SQS_QUEUE_PREFIX + settings.CLASSIFY_QUEUE)
