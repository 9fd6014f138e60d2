"""Staff accounts: passwords, TOTP, failed-login throttling, web sessions (issue 11).

`passwords`, `totp` and `throttle` are pure; `store` and `sessions` keep their
state in the server's database, so every worker sees the same accounts, locks
and sessions.
"""
