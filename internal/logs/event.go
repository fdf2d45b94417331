package logs

import "time"

// Event is one log line of one function's log stream.
type Event struct {
	// Group is the log group, "/aws/lambda/NAME".
	Group string
	// Stream is the log stream, "YYYY/MM/DD/[$LATEST]<sandbox id>" as Lambda names them.
	Stream string
	// Time is when the line was written.
	Time time.Time
	// Message is the line, without its trailing newline.
	Message string
}

// Writer takes log events. Write must not block the invoke path on a disk or network round
// trip: implementations buffer and store in batches. The events of one call are stored next
// to each other, in order.
type Writer interface {
	Write(evs ...Event)
}
