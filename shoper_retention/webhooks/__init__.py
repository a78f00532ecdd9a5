"""Where platforms and providers call us: verify, store in the inbox, answer fast."""
