"""The billing core: usage to explained lines to a plan. Pure: no I/O, no clock, no database.

Imports nothing else of meterbridge. Modules: periods, units, money, usage (aggregation), pricing,
billing (configurations and desired lines), description, explanation, rules (conditions and
resolution), plan (changes and checksum), safety (the verdict). See docs/billing-core.md.
"""
