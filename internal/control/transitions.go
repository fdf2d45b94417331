package control

import (
	"context"
	"errors"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// Lambda's messages for the states an update can run into.
const (
	msgRevisionMismatch = "The Revision Id provided does not match the latest Revision Id. " +
		"Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
	msgCreating = "The function is being created."
	msgUpdating = "The function is being updated."
)

// checkUpdatable reports whether f can be updated now, as Lambda does: the caller's RevisionId
// (if any) must be the current one, and no create or update may be under way.
func (r *Registry) checkUpdatable(f *Function, revisionID string) error {
	if revisionID != "" && revisionID != f.Config.RevisionId {
		return lambdaerr.New(lambdaerr.PreconditionFailed, "%s", msgRevisionMismatch)
	}
	if f.Config.State == StatePending {
		return lambdaerr.New(lambdaerr.ResourceConflict,
			"The operation cannot be performed at this time. The function is currently in the following state: %s", f.Config.State)
	}
	if f.Config.LastUpdateStatus == UpdateInProgress {
		return lambdaerr.New(lambdaerr.ResourceConflict,
			"The operation cannot be performed at this time. An update is in progress for resource: %s", f.Config.FunctionArn)
	}
	return nil
}

func (r *Registry) startUpdate(f *Function) {
	now := r.now().UTC()
	f.Modified = now
	f.Config.LastModified = now.Format(LastModifiedLayout)
	f.Config.RevisionId = newUUID()
	f.Config.LastUpdateStatus = UpdateInProgress
	// Lambda's model has no reason code for an update under way, only the message.
	f.Config.LastUpdateStatusReason = msgUpdating
	f.Config.LastUpdateStatusReasonCode = ""
}

// afterWrite starts making a stored change ready, as configured.
func (r *Registry) afterWrite(ctx context.Context, f *Function) {
	if r.manual {
		return
	}
	name, rev := f.Name(), f.Config.RevisionId
	if r.prepare == nil {
		if err := r.MarkReady(context.WithoutCancel(ctx), name, rev, nil); err != nil {
			r.logger.Error("marking function ready", "function", name, "err", err)
		}
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		perr := r.prepare(r.bg, f)
		if err := r.MarkReady(r.bg, name, rev, perr); err != nil {
			r.logger.Error("marking function ready", "function", name, "err", err)
		}
	}()
}

// MarkReady ends the create or update that left the function at revisionID: Pending becomes
// Active and InProgress becomes Successful, or both Failed with failure's message when failure
// is not nil. It does nothing if the function has changed since (or is gone).
func (r *Registry) MarkReady(ctx context.Context, name, revisionID string, failure error) error {
	var published *Function
	_, err := r.update(ctx, name, func(f *Function) error {
		published = nil
		if f.Config.RevisionId != revisionID {
			return errUnchanged
		}
		c := &f.Config
		if c.State != StatePending && c.LastUpdateStatus != UpdateInProgress {
			return errUnchanged
		}
		reason, code := "", ""
		if failure != nil {
			le := lambdaerr.As(failure)
			reason, code = le.Message, ReasonInternalError
			if le.Type == lambdaerr.InvalidZipFile {
				code = "InvalidZipFileException"
			}
		}
		if c.State == StatePending {
			c.State, c.StateReason, c.StateReasonCode = StateActive, "", ""
			if failure != nil {
				c.State, c.StateReason, c.StateReasonCode = StateFailed, reason, code
			}
		}
		c.LastUpdateStatus, c.LastUpdateStatusReason, c.LastUpdateStatusReasonCode = UpdateSuccessful, "", ""
		if failure != nil {
			c.LastUpdateStatus, c.LastUpdateStatusReason, c.LastUpdateStatusReasonCode = UpdateFailed, reason, code
		}
		c.RevisionId = newUUID()
		if v := f.publishPending; v != 0 {
			// A create or code update with Publish publishes the version it reserved once ready.
			f.publishPending = 0
			if failure == nil {
				published = r.versionOf(f, v, nil)
			}
		}
		return nil
	})
	if errors.Is(err, errUnchanged) || errors.Is(err, ErrNotFound) {
		return nil
	}
	if err == nil && published != nil {
		err = r.storeVersion(ctx, published)
	}
	return err
}
