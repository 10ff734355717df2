"""What a trial process and the service that runs it agree on (stdlib only: trials import it)."""
