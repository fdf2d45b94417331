package logs

import (
	"context"
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// CloudWatch's per-response limits.
const (
	maxResponseBytes = 1 << 20 // events' bytes per GetLogEvents/FilterLogEvents response
	eventOverhead    = 26      // bytes CloudWatch counts per event on top of its message
	maxEventsLimit   = 10000
	maxDescribeLimit = 50
	// maxScanned is how many stored events one FilterLogEvents call reads before returning
	// what it found with a nextToken, as CloudWatch does on long searches.
	maxScanned = 200000
)

var groupNameRE = regexp.MustCompile(`^[\.\-_/#A-Za-z0-9]{1,512}$`)

func (s *Store) groupArn(name string) string {
	return fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s", s.cfg.Region, s.cfg.Account, name)
}

// resolveGroup returns the group a request names by logGroupName or logGroupIdentifier (a
// name or an ARN).
func resolveGroup(name, identifier string) (string, error) {
	switch {
	case name != "" && identifier != "":
		return "", invalidParam("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
	case name != "":
		return name, nil
	case identifier == "":
		return "", invalidParam("Either logGroupName or logGroupIdentifier must be specified.")
	}
	if !strings.HasPrefix(identifier, "arn:") {
		return identifier, nil
	}
	_, rest, ok := strings.Cut(identifier, ":log-group:")
	if !ok || rest == "" {
		return "", invalidParam("Invalid logGroupIdentifier %q.", identifier)
	}
	rest = strings.TrimSuffix(rest, ":*")
	if i := strings.Index(rest, ":log-stream:"); i >= 0 {
		rest = rest[:i]
	}
	return rest, nil
}

// requireGroup fails with ErrGroupNotFound unless the group exists.
func (s *Store) requireGroup(ctx context.Context, group string) error {
	if s.idx.hasGroup(group) {
		return nil
	}
	if err := s.refresh(ctx); err != nil {
		return err
	}
	if !s.idx.hasGroup(group) {
		return ErrGroupNotFound
	}
	return nil
}

func limitOf(l *int, def, most int) (int, error) {
	if l == nil {
		return def, nil
	}
	if *l < 1 || *l > most {
		return 0, invalidParam("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and %d", *l, most)
	}
	return *l, nil
}

func encodeToken(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func decodeToken(tok, prefix string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", ErrInvalidToken
	}
	rest, ok := strings.CutPrefix(string(b), prefix)
	if !ok {
		return "", ErrInvalidToken
	}
	return rest, nil
}

func decodeSeqToken(tok, prefix string) (uint64, error) {
	rest, err := decodeToken(tok, prefix)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	if err != nil || n == 0 {
		return 0, ErrInvalidToken
	}
	return n, nil
}

// DescribeLogGroups lists log groups in name order.
func (s *Store) DescribeLogGroups(ctx context.Context, in DescribeLogGroupsInput) (*DescribeLogGroupsOutput, error) {
	limit, err := limitOf(in.Limit, maxDescribeLimit, maxDescribeLimit)
	if err != nil {
		return nil, err
	}
	if in.LogGroupNamePrefix != "" && in.LogGroupNamePattern != "" {
		return nil, invalidParam("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
	}
	var after string
	if in.NextToken != "" {
		if after, err = decodeToken(in.NextToken, "g:"); err != nil {
			return nil, err
		}
	}
	if err := s.refresh(ctx); err != nil {
		return nil, err
	}
	var retention *int
	if d := s.cfg.MaxAge; d%(24*time.Hour) == 0 {
		days := int(d / (24 * time.Hour))
		retention = &days
	}
	pat := strings.ToLower(in.LogGroupNamePattern)
	out := &DescribeLogGroupsOutput{LogGroups: []LogGroup{}}
	for _, g := range s.idx.groupList() {
		if after != "" && g.name <= after {
			continue
		}
		if !strings.HasPrefix(g.name, in.LogGroupNamePrefix) || !strings.Contains(strings.ToLower(g.name), pat) {
			continue
		}
		if len(out.LogGroups) == limit {
			out.NextToken = encodeToken("g:" + out.LogGroups[limit-1].LogGroupName)
			break
		}
		arn := s.groupArn(g.name)
		out.LogGroups = append(out.LogGroups, LogGroup{
			LogGroupName:    g.name,
			CreationTime:    g.creation,
			Arn:             arn + ":*",
			LogGroupArn:     arn,
			StoredBytes:     g.bytes,
			LogGroupClass:   "STANDARD",
			RetentionInDays: retention,
		})
	}
	return out, nil
}

// DescribeLogStreams lists a group's streams by name or by last event time.
func (s *Store) DescribeLogStreams(ctx context.Context, in DescribeLogStreamsInput) (*DescribeLogStreamsOutput, error) {
	group, err := resolveGroup(in.LogGroupName, in.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}
	limit, err := limitOf(in.Limit, maxDescribeLimit, maxDescribeLimit)
	if err != nil {
		return nil, err
	}
	byTime := false
	switch in.OrderBy {
	case "", "LogStreamName":
	case "LastEventTime":
		byTime = true
		if in.LogStreamNamePrefix != "" {
			return nil, invalidParam("Cannot order by LastEventTime with a logStreamNamePrefix.")
		}
	default:
		return nil, invalidParam("1 validation error detected: Value '%s' at 'orderBy' failed to satisfy constraint: Member must satisfy enum value set: [LastEventTime, LogStreamName]", in.OrderBy)
	}
	offset := 0
	if in.NextToken != "" {
		rest, err := decodeToken(in.NextToken, "o:")
		if err != nil {
			return nil, err
		}
		if offset, err = strconv.Atoi(rest); err != nil || offset < 0 {
			return nil, ErrInvalidToken
		}
	}
	if err := s.refresh(ctx); err != nil {
		return nil, err
	}
	streams, ok := s.idx.streamList(group)
	if !ok {
		return nil, ErrGroupNotFound
	}
	streams = slices.DeleteFunc(streams, func(st streamMeta) bool { return !strings.HasPrefix(st.name, in.LogStreamNamePrefix) })
	slices.SortFunc(streams, func(a, b streamMeta) int {
		c := 0
		if byTime {
			c = cmpInt64(a.last, b.last)
		}
		if c == 0 {
			c = strings.Compare(a.name, b.name)
		}
		if in.Descending {
			c = -c
		}
		return c
	})
	out := &DescribeLogStreamsOutput{LogStreams: []LogStream{}}
	garn := s.groupArn(group)
	for i := offset; i < len(streams); i++ {
		if len(out.LogStreams) == limit {
			out.NextToken = encodeToken("o:" + strconv.Itoa(i))
			break
		}
		st := streams[i]
		out.LogStreams = append(out.LogStreams, LogStream{
			LogStreamName:       st.name,
			CreationTime:        st.creation,
			FirstEventTimestamp: st.first,
			LastEventTimestamp:  st.last,
			LastIngestionTime:   st.lastIngest,
			Arn:                 garn + ":log-stream:" + st.name,
			StoredBytes:         st.bytes,
		})
	}
	return out, nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// timeWindow is a query's [start, end) in unix ms; zero means unbounded.
type timeWindow struct{ start, end int64 }

func windowOf(start, end *int64) timeWindow {
	var w timeWindow
	if start != nil && *start > 0 {
		w.start = *start
	}
	if end != nil {
		w.end = *end
		if w.end <= 0 {
			w.end = 1 // nothing is before the epoch
		}
	}
	return w
}

func (w timeWindow) has(ts int64) bool {
	return ts >= w.start && (w.end == 0 || ts < w.end)
}

// scanRange returns the part of the stream holding events in the window.
func (s *Store) scanRange(w timeWindow, filters ...string) scanRange {
	r := scanRange{filters: filters}
	if w.start > 0 {
		r.startTime = max(w.start-s.cfg.ClockSkew.Milliseconds(), 1)
	}
	if w.end > 0 {
		r.stopIngest = w.end + s.cfg.MaxLag.Milliseconds()
	}
	return r
}

// GetLogEvents returns a page of one stream's events, oldest first. Without a token it
// returns the newest events in the window (or the oldest with startFromHead); the returned
// nextForwardToken reads the events after the page and nextBackwardToken those before it,
// and at either end the token passed in comes back unchanged, as in CloudWatch.
func (s *Store) GetLogEvents(ctx context.Context, in GetLogEventsInput) (*GetLogEventsOutput, error) {
	group, err := resolveGroup(in.LogGroupName, in.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}
	if in.LogStreamName == "" {
		return nil, invalidParam("1 validation error detected: Value null at 'logStreamName' failed to satisfy constraint: Member must not be null")
	}
	limit, err := limitOf(in.Limit, maxEventsLimit, maxEventsLimit)
	if err != nil {
		return nil, err
	}
	forward := in.StartFromHead
	var tokenSeq uint64
	if in.NextToken != "" {
		dir, num, ok := strings.Cut(in.NextToken, "/")
		n, perr := strconv.ParseUint(num, 10, 64)
		if !ok || perr != nil || n == 0 || (dir != "f" && dir != "b") {
			return nil, ErrInvalidToken
		}
		forward, tokenSeq = dir == "f", n
	}
	if err := s.requireGroup(ctx, group); err != nil {
		return nil, err
	}
	if !s.idx.hasStream(group, in.LogStreamName) {
		if err := s.refresh(ctx); err != nil {
			return nil, err
		}
		if !s.idx.hasStream(group, in.LogStreamName) {
			return nil, ErrStreamNotFound
		}
	}
	w := windowOf(in.StartTime, in.EndTime)
	r := s.scanRange(w, s.subj.group(group), s.subj.legacyStream(group, in.LogStreamName))
	// The group's packs hold its other streams too: start at this one's first message.
	if first := s.idx.firstSeq(group, in.LogStreamName); r.startSeq < first*packSpan {
		r.startSeq = first * packSpan
	}
	mine := func(rec record) bool { return rec.stream == in.LogStreamName && w.has(rec.ts) }

	var page []record
	if forward {
		r.startSeq = max(r.startSeq, tokenSeq)
		bytes := 0
		_, err = s.scan(ctx, r, func(rec record) bool {
			if !mine(rec) {
				return true
			}
			size := len(rec.msg) + eventOverhead
			if len(page) > 0 && bytes+size > maxResponseBytes {
				return false
			}
			page = append(page, rec)
			bytes += size
			return len(page) < limit
		})
	} else {
		r.stopSeq = tokenSeq
		// The newest events before the token: keep a sliding window of the last ones read.
		head, bytes := 0, 0
		_, err = s.scan(ctx, r, func(rec record) bool {
			if !mine(rec) {
				return true
			}
			page = append(page, rec)
			bytes += len(rec.msg) + eventOverhead
			for len(page)-head > limit || (len(page)-head > 1 && bytes > maxResponseBytes) {
				bytes -= len(page[head].msg) + eventOverhead
				page[head] = record{}
				head++
			}
			if head > 4096 && head > len(page)/2 {
				page = append(page[:0], page[head:]...)
				head = 0
			}
			return true
		})
		page = page[head:]
	}
	if err != nil {
		return nil, err
	}
	out := &GetLogEventsOutput{Events: make([]OutputLogEvent, 0, len(page))}
	for _, rec := range page {
		out.Events = append(out.Events, OutputLogEvent{Timestamp: rec.ts, Message: rec.msg, IngestionTime: rec.ingest})
	}
	if len(page) > 0 {
		out.NextForwardToken = "f/" + strconv.FormatUint(page[len(page)-1].seq+1, 10)
		out.NextBackwardToken = "b/" + strconv.FormatUint(page[0].seq, 10)
		return out, nil
	}
	if tokenSeq == 0 {
		info, err := s.stream.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("logs: stream info: %w", err)
		}
		tokenSeq = (info.State.LastSeq + 1) * packSpan
	}
	out.NextForwardToken = "f/" + strconv.FormatUint(tokenSeq, 10)
	out.NextBackwardToken = "b/" + strconv.FormatUint(tokenSeq, 10)
	return out, nil
}

// FilterLogEvents returns a group's events matching the request, in the order they were
// stored, with a nextToken while there may be more. Each event's eventId is its stream
// sequence, stable across calls, which `aws logs tail --follow` relies on to drop the events
// it has already shown.
func (s *Store) FilterLogEvents(ctx context.Context, in FilterLogEventsInput) (*FilterLogEventsOutput, error) {
	group, err := resolveGroup(in.LogGroupName, in.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}
	if len(in.LogStreamNames) > 0 && in.LogStreamNamePrefix != "" {
		return nil, invalidParam("Cannot specify both logStreamNames and logStreamNamePrefix.")
	}
	if len(in.LogStreamNames) > 100 {
		return nil, invalidParam("1 validation error detected: Value at 'logStreamNames' failed to satisfy constraint: Member must have length less than or equal to 100")
	}
	limit, err := limitOf(in.Limit, maxEventsLimit, maxEventsLimit)
	if err != nil {
		return nil, err
	}
	pat, err := compilePattern(in.FilterPattern)
	if err != nil {
		return nil, err
	}
	var startSeq uint64
	if in.NextToken != "" {
		if startSeq, err = decodeSeqToken(in.NextToken, "s:"); err != nil {
			return nil, err
		}
	}
	if err := s.requireGroup(ctx, group); err != nil {
		return nil, err
	}
	w := windowOf(in.StartTime, in.EndTime)
	filters := []string{s.subj.group(group)}
	var named map[string]bool
	if len(in.LogStreamNames) > 0 {
		named = map[string]bool{}
		for _, name := range in.LogStreamNames {
			if !named[name] {
				named[name] = true
				filters = append(filters, s.subj.legacyStream(group, name))
			}
		}
	} else {
		filters = append(filters, s.subj.legacyGroup(group))
	}
	r := s.scanRange(w, filters...)
	r.startSeq = startSeq

	out := &FilterLogEventsOutput{Events: []FilteredLogEvent{}, SearchedLogStreams: []SearchedLogStream{}}
	bytes, scanned := 0, 0
	var next uint64
	_, err = s.scan(ctx, r, func(rec record) bool {
		if scanned == maxScanned {
			next = rec.seq
			return false
		}
		scanned++
		if !w.has(rec.ts) || !pat.match(rec.msg) {
			return true
		}
		stream := rec.stream
		if named != nil && !named[stream] || !strings.HasPrefix(stream, in.LogStreamNamePrefix) {
			return true
		}
		size := len(rec.msg) + eventOverhead
		if len(out.Events) == limit || (len(out.Events) > 0 && bytes+size > maxResponseBytes) {
			next = rec.seq
			return false
		}
		bytes += size
		out.Events = append(out.Events, FilteredLogEvent{
			LogStreamName: stream,
			Timestamp:     rec.ts,
			Message:       rec.msg,
			IngestionTime: rec.ingest,
			EventID:       strconv.FormatUint(rec.seq, 10),
		})
		return true
	})
	if err != nil {
		return nil, err
	}
	if next > 0 {
		out.NextToken = encodeToken("s:" + strconv.FormatUint(next, 10))
	}
	return out, nil
}

// CreateLogGroup creates an empty log group; groups are also created by their first event.
func (s *Store) CreateLogGroup(ctx context.Context, in CreateLogGroupInput) error {
	if !groupNameRE.MatchString(in.LogGroupName) {
		return invalidParam("1 validation error detected: Value '%s' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+", in.LogGroupName)
	}
	if err := s.refresh(ctx); err != nil {
		return err
	}
	if s.idx.hasGroup(in.LogGroupName) {
		return ErrGroupExists
	}
	now := time.Now().UnixMilli()
	if _, err := s.putGroup(ctx, in.LogGroupName, now); err != nil {
		return err
	}
	s.idx.mu.Lock()
	g := s.idx.group(in.LogGroupName, now)
	g.recorded, g.touched = true, now
	s.idx.mu.Unlock()
	return nil
}

// DeleteLogGroup deletes a log group and all its events.
func (s *Store) DeleteLogGroup(ctx context.Context, in DeleteLogGroupInput) error {
	if in.LogGroupName == "" {
		return invalidParam("1 validation error detected: Value null at 'logGroupName' failed to satisfy constraint: Member must not be null")
	}
	if err := s.requireGroup(ctx, in.LogGroupName); err != nil {
		return err
	}
	for _, subj := range []string{s.subj.group(in.LogGroupName), s.subj.legacyGroup(in.LogGroupName)} {
		if err := s.stream.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
			return fmt.Errorf("logs: purge group %s: %w", in.LogGroupName, err)
		}
	}
	if err := s.groups.Delete(ctx, escapeToken(in.LogGroupName)); err != nil {
		return fmt.Errorf("logs: delete group %s: %w", in.LogGroupName, err)
	}
	s.idx.remove(in.LogGroupName)
	s.forgetGroup(in.LogGroupName)
	return nil
}
