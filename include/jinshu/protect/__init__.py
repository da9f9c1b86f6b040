"""Protection (docs/regulation.md#protection): one policy per sensitivity, applied at rest and on exit.

Rules (pure): :mod:`.policy` (what each sensitivity means in the store and on
the way out: the one exit policy every outlet uses), :mod:`.pseudonyms`
(keyed HMAC pseudonyms and blind indexes), :mod:`.crypto` (AES-256-GCM
envelopes), :mod:`.keyring`, :mod:`.leakguard` (no raw identifier leaves).
Adapters and services: :mod:`.keys` (where keys come from), :mod:`.rotation`.
"""
