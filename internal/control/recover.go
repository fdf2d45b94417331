package control

import "context"

// resumeTransitions ends every create or update that the stored records say is under way:
// a server that stopped (or was killed) between acknowledging a change and marking it ready
// left it Pending or InProgress, and nothing else would ever end it. Each is prepared again
// (its code is still in the store: it was stored before the change was acknowledged) and
// marked Active/Successful, or Failed with the reason, as if it had just been written.
// Preparing is idempotent and MarkReady acts only on the revision it was given, so a
// transition another process is ending at the same time ends once.
func (r *Registry) resumeTransitions(ctx context.Context) {
	if r.manual {
		return
	}
	for _, f := range r.snapshot() {
		c := &f.Config
		if c.State != StatePending && c.LastUpdateStatus != UpdateInProgress {
			continue
		}
		r.logger.Info("ending a create or update interrupted by a restart", "function", f.Name(),
			"state", c.State, "last_update_status", c.LastUpdateStatus)
		r.afterWrite(ctx, f)
	}
}
