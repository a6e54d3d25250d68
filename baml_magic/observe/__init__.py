"""What calls leave behind for later: OpenTelemetry spans, the session's usage, what tokens cost."""
