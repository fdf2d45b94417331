package kafka

import (
	"encoding/json"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type (
	kmsgReq  = kmsg.OffsetCommitRequest
	kmsgResp = kmsg.OffsetCommitResponse
)

var jsonMarshal = json.Marshal

func rawJSON(b []byte) json.RawMessage { return b }

func kerrOf(code int16) error { return kerr.ErrorForCode(code) }
