"""回访与进度通知: progress updates to reporters (e-mail, SMS) from a durable outbox."""
