"""Everything one deployment owns in an AWS account, named from one prefix: what `manage.py provision` makes and
`manage.py deprovision` removes."""
