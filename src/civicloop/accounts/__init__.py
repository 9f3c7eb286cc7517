"""Accounts: users with roles and scopes, hashed passwords, bearer tokens and Open311 API keys.

The tables live in :mod:`civicloop.accounts.store` (migration ``0002_accounts``); hashing and secret
handling in :mod:`civicloop.accounts.secrets`; the use cases in :mod:`civicloop.accounts.service`.
"""
