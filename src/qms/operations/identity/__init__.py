"""Identity: who may act and sign, one module per kind of credential or setting.

* :mod:`.users`: users and their groups (``qms user``);
* :mod:`.tokens`: per-user bearer tokens (``qms token``);
* :mod:`.passkeys`: passkey enrollment and the signing assertions the web obtains
  (``qms passkey``);
* :mod:`.keys`: the project's signing keys (``qms key``);
* :mod:`.settings`: the signed project settings, e.g. ``auth.cli`` and
  ``signatures.passkey`` (``qms config``).
"""
