"""Who may do what: signed tokens, revocation, rate limits, outbound URL checks, the audit log."""
