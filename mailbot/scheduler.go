package mailbot

import "context"

// runScheduler sends reminders, escalations and digests (issue 6). It is
// being written; until then it only waits for stop.
func (d *Daemon) runScheduler(ctx context.Context) error {
	<-ctx.Done()
	return nil
}
