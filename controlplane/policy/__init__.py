"""Who may change what: the AccessPolicy evaluated against git identities, per planned change."""
