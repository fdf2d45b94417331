package esm

import (
	"fmt"
	"strings"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// StreamSource is a parsed JetStream source ARN:
// arn:aws:nats:REGION:ACCOUNT:stream:STREAM, or arn:aws:nats:REGION:ACCOUNT:stream:STREAM/FILTER
// to read only the stream's subjects that match the subject filter FILTER (wildcards allowed).
type StreamSource struct {
	Stream, Filter string
}

// StreamARN is the ARN of a JetStream stream (and subject filter, when not empty).
func StreamARN(region, account, stream, filter string) string {
	s := fmt.Sprintf("arn:aws:nats:%s:%s:stream:%s", region, account, stream)
	if filter != "" {
		s += "/" + filter
	}
	return s
}

// ParseStreamARN reads a JetStream source ARN of the server's region and account.
func ParseStreamARN(arn, region, account string) (StreamSource, error) {
	prefix := fmt.Sprintf("arn:aws:nats:%s:%s:stream:", region, account)
	rest, ok := strings.CutPrefix(arn, prefix)
	if !ok {
		return StreamSource{}, lambdaerr.InvalidParameter("The event source ARN %s is not supported: use a JetStream stream "+
			"(%sSTREAM or %sSTREAM/SUBJECT_FILTER), a self-managed Kafka cluster (SelfManagedEventSource) or a RabbitMQ broker "+
			"(arn:aws:mq:%s:%s:broker:HOST:PORT).", arn, prefix, prefix, region, account)
	}
	stream, filter, _ := strings.Cut(rest, "/")
	if !validStreamName(stream) {
		return StreamSource{}, lambdaerr.InvalidParameter("The event source ARN %s does not name a valid JetStream stream.", arn)
	}
	if filter != "" && !validSubjectFilter(filter) {
		return StreamSource{}, lambdaerr.InvalidParameter("The event source ARN %s has an invalid subject filter %q.", arn, filter)
	}
	return StreamSource{Stream: stream, Filter: filter}, nil
}

func validStreamName(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	return !strings.ContainsAny(s, " \t\r\n.*>/\\")
}

func validSubjectFilter(s string) bool {
	if s == "" || strings.ContainsAny(s, " \t\r\n") {
		return false
	}
	toks := strings.Split(s, ".")
	for i, t := range toks {
		switch {
		case t == "":
			return false
		case t == ">" && i != len(toks)-1:
			return false
		case t != "*" && t != ">" && strings.ContainsAny(t, "*>"):
			return false
		}
	}
	return true
}

// Broker is a parsed RabbitMQ source ARN: arn:aws:mq:REGION:ACCOUNT:broker:HOST:PORT.
type Broker struct {
	Host string
	Port string
}

// ParseBrokerARN reads a RabbitMQ broker ARN of the server's region and account.
func ParseBrokerARN(arn, region, account string) (Broker, error) {
	prefix := fmt.Sprintf("arn:aws:mq:%s:%s:broker:", region, account)
	rest, ok := strings.CutPrefix(arn, prefix)
	if !ok {
		return Broker{}, lambdaerr.InvalidParameter("The event source ARN %s is not a RabbitMQ broker ARN of this server "+
			"(%sHOST:PORT).", arn, prefix)
	}
	i := strings.LastIndex(rest, ":")
	if i <= 0 || i == len(rest)-1 || strings.ContainsAny(rest, "/ @") {
		return Broker{}, lambdaerr.InvalidParameter("The event source ARN %s does not name a broker as HOST:PORT.", arn)
	}
	for _, c := range rest[i+1:] {
		if c < '0' || c > '9' {
			return Broker{}, lambdaerr.InvalidParameter("The event source ARN %s does not name a broker as HOST:PORT.", arn)
		}
	}
	return Broker{Host: rest[:i], Port: rest[i+1:]}, nil
}
