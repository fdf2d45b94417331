package esm

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/ember-serverless/ember/internal/async"
	"github.com/ember-serverless/ember/internal/esm/filter"
	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// Conditions of a mapping's failure record, as Lambda's for stream sources.
const (
	ConditionRetryAttemptsExhausted = "RetryAttemptsExhausted"
	ConditionRecordAgeExceeded      = "RecordAgeExceeded"
)

// processor runs one lane of a mapping: it takes batches from the source, filters them,
// invokes the function, retries, and acknowledges records once they are done with.
type processor struct {
	s        *Service
	m        *Mapping
	src      Source
	criteria filter.Criteria
	log      *slog.Logger
	st       *mappingStats
	sem      chan struct{}
}

func (p *processor) loop(ctx context.Context, lane int) {
	for ctx.Err() == nil {
		recs, err := p.src.Next(ctx, lane, p.m.BatchSize, p.m.BatchingWindow())
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			p.log.Warn("could not read the event source; retrying", "err", err)
			p.st.result("PROBLEM: Connection error. " + err.Error())
			sleep(ctx, p.s.cfg.ThrottleBaseDelay)
			continue
		}
		p.st.polled.Add(int64(len(recs)))
		kept := make([]*Record, 0, len(recs))
		for _, r := range recs {
			if p.criteria.Keep(r.Doc) {
				kept = append(kept, r)
			} else {
				p.st.filtered.Add(1)
			}
		}
		if !p.process(ctx, kept) {
			p.src.Release(recs)
			return
		}
		for ctx.Err() == nil {
			if err := p.src.Done(ctx, recs); err != nil {
				p.log.Warn("could not acknowledge records; retrying", "err", err)
				if !sleep(ctx, p.s.cfg.ThrottleBaseDelay) {
					return
				}
				continue
			}
			break
		}
	}
}

// process runs a batch's kept records until every one succeeded or was sent to the failure
// destination. It returns false when ctx ended first.
func (p *processor) process(ctx context.Context, recs []*Record) bool {
	type pending struct {
		recs     []*Record
		attempts int // failed invocations so far
	}
	queue := []pending{}
	for _, b := range splitBySize(recs, MaxBatchPayload, p.src.Event) {
		queue = append(queue, pending{recs: b})
	}
	throttles := 0
	for len(queue) > 0 {
		if ctx.Err() != nil {
			return false
		}
		b := &queue[0]
		resp, err := p.invoke(ctx, b.recs)
		if ctx.Err() != nil {
			return false
		}
		if err != nil {
			// Throttled, or failed before the function ran: not an attempt. Wait and retry.
			le := lambdaerr.As(err)
			p.st.throttled.Add(1)
			switch le.Type {
			case lambdaerr.TooManyRequests:
				p.st.result("PROBLEM: Function call throttled.")
			case lambdaerr.ResourceNotFound:
				p.st.result("PROBLEM: Function not found.")
			default:
				p.st.result("PROBLEM: Lambda internal error. " + le.Message)
			}
			p.log.Debug("batch not run; retrying", "err", err)
			if !sleep(ctx, backoff(p.s.cfg.ThrottleBaseDelay, throttles)) {
				return false
			}
			throttles++
			continue
		}
		throttles = 0
		failed := b.recs
		if resp.FunctionError == "" {
			if !p.m.ReportsItemFailures() {
				p.succeeded(b.recs)
				queue = queue[1:]
				continue
			}
			idx, ok := firstFailed(resp.Payload, b.recs)
			if ok && idx == len(b.recs) {
				p.succeeded(b.recs)
				queue = queue[1:]
				continue
			}
			if ok {
				// Only the first failed item and those after it are retried.
				p.succeeded(b.recs[:idx])
				failed = b.recs[idx:]
			}
		}
		p.st.result("PROBLEM: Function call failed")
		b.recs = failed
		b.attempts++
		switch {
		case p.m.Bisect() && len(failed) > 1:
			// Splitting a batch does not use up its retries, as Lambda's.
			half := len(failed) / 2
			first := pending{recs: failed[:half], attempts: b.attempts - 1}
			second := pending{recs: failed[half:], attempts: b.attempts - 1}
			queue = append([]pending{first, second}, queue[1:]...)
			p.st.retried.Add(1)
			continue
		}
		condition := ""
		if max := p.m.RetryAttempts(); max >= 0 && b.attempts > max {
			condition = ConditionRetryAttemptsExhausted
		}
		if age := p.m.MaxRecordAge(); age > 0 && p.s.cfg.Now().Sub(failed[0].Arrived) > age {
			condition = ConditionRecordAgeExceeded
		}
		if condition == "" {
			p.st.retried.Add(1)
			if !sleep(ctx, backoff(p.s.cfg.RetryBaseDelay, b.attempts-1)) {
				return false
			}
			continue
		}
		if !p.sendFailure(ctx, failed, condition, b.attempts, resp) {
			return false
		}
		p.st.failed.Add(int64(len(failed)))
		queue = queue[1:]
	}
	return true
}

func (p *processor) succeeded(recs []*Record) {
	if len(recs) == 0 {
		return
	}
	p.st.succeeded.Add(int64(len(recs)))
	p.st.result("OK")
}

// backoff is base doubled n times, at most MaxRetryDelay.
func backoff(base time.Duration, n int) time.Duration {
	d := base
	for i := 0; i < n && d < MaxRetryDelay; i++ {
		d *= 2
	}
	return min(d, MaxRetryDelay)
}

// invoke runs a batch through the synchronous path, telling the source the records are still
// being worked on while it runs.
func (p *processor) invoke(ctx context.Context, recs []*Record) (*invoke.Response, error) {
	if p.sem != nil {
		select {
		case p.sem <- struct{}{}:
			defer func() { <-p.sem }()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(max(p.s.cfg.AckWait/3, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.src.Working(recs)
			case <-stop:
				return
			}
		}
	}()
	p.st.invoked.Add(int64(len(recs)))
	if last := recs[len(recs)-1]; !last.Arrived.IsZero() {
		p.st.iteratorAge.Store(p.s.cfg.Now().Sub(last.Arrived).Milliseconds())
	}
	resp, err := p.s.cfg.Invoker.Invoke(ctx, &invoke.Request{Function: p.m.Function, Qualifier: p.m.Qualifier,
		Type: invoke.RequestResponse, Payload: p.src.Event(recs), RequestID: uuid.NewString()})
	if err == nil && resp.Finish != nil {
		resp.Finish()
	}
	return resp, err
}

// firstFailed reads a ReportBatchItemFailures response: the index of the first record the
// function reported failed (len(recs) when none). ok is false when the response is not a
// valid report (then the whole batch failed, as Lambda treats it).
func firstFailed(payload []byte, recs []*Record) (int, bool) {
	var doc struct {
		BatchItemFailures *[]struct {
			ItemIdentifier *string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	trimmed := string(payload)
	if trimmed == "" || trimmed == "null" || trimmed == "{}" {
		return len(recs), true
	}
	if err := json.Unmarshal(payload, &doc); err != nil {
		return 0, false
	}
	if doc.BatchItemFailures == nil {
		return len(recs), true
	}
	idx := len(recs)
	for _, f := range *doc.BatchItemFailures {
		if f.ItemIdentifier == nil || *f.ItemIdentifier == "" {
			return 0, false
		}
		found := false
		for i, r := range recs {
			if r.ID == *f.ItemIdentifier {
				idx = min(idx, i)
				found = true
				break
			}
		}
		if !found {
			return 0, false
		}
	}
	return idx, true
}

// sendFailure sends a failed batch's record to the OnFailure destination, retrying until it is
// delivered: a batch is never acknowledged before its failure is recorded. Without a
// destination the batch is dropped, as Lambda's.
func (p *processor) sendFailure(ctx context.Context, recs []*Record, condition string, attempts int, resp *invoke.Response) bool {
	dest := p.m.OnFailure()
	if dest == "" {
		p.log.Warn("a batch failed for good and the mapping has no OnFailure destination; skipping it", "records", len(recs), "condition", condition)
		return true
	}
	requestID := uuid.NewString()
	if resp != nil && resp.RequestID != "" {
		requestID = resp.RequestID
	}
	rec := map[string]any{
		"version":   async.RecordVersion,
		"timestamp": p.s.cfg.Now().UTC().Format(async.RecordTimeLayout),
		"requestContext": async.RequestContext{RequestID: requestID, FunctionArn: p.m.FunctionArn, Condition: condition,
			ApproximateInvokeCount: attempts},
	}
	if resp != nil {
		status := resp.StatusCode
		if status == 0 {
			status = http.StatusOK
		}
		version := resp.ExecutedVersion
		if version == "" {
			version = "$LATEST"
		}
		rec["responseContext"] = async.ResponseContext{StatusCode: status, ExecutedVersion: version, FunctionError: string(resp.FunctionError)}
	}
	for k, v := range p.src.FailureInfo(recs) {
		rec[k] = v
	}
	body, _ := json.Marshal(rec)
	for n := 0; ; n++ {
		err := p.s.cfg.Sender.Send(ctx, dest, requestID, body, nil)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		p.log.Warn("could not deliver a failed batch's record; retrying", "destination", dest, "err", err)
		p.st.result("PROBLEM: Could not deliver to the OnFailure destination. " + err.Error())
		if !sleep(ctx, backoff(p.s.cfg.ThrottleBaseDelay, n)) {
			return false
		}
	}
}

// splitBySize splits records into batches whose events stay under limit bytes (a record larger
// than the limit goes alone, and the invoke refuses it as a function error would).
func splitBySize(recs []*Record, limit int, event func([]*Record) []byte) [][]*Record {
	if len(recs) == 0 {
		return nil
	}
	total := 0
	for _, r := range recs {
		total += r.Size
	}
	if total < limit*9/10 {
		return [][]*Record{recs}
	}
	var out [][]*Record
	start, size := 0, 0
	for i, r := range recs {
		if i > start && size+r.Size > limit*9/10 {
			out = append(out, recs[start:i])
			start, size = i, 0
		}
		size += r.Size
	}
	return append(out, recs[start:])
}
