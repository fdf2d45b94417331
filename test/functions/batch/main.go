// Command batch takes an event source mapping's batch (JetStream, Kafka or RabbitMQ) and fails
// when any record's data is "poison", so that tests can see a poison record isolated and sent
// to the failure destination while the records around it are processed.
package main

import (
	"context"
	"encoding/base64"
	"errors"

	"github.com/aws/aws-lambda-go/lambda"
)

type event struct {
	Records []struct {
		JetStream *struct {
			Data string `json:"data"`
		} `json:"jetstream"`
	} `json:"Records"`
	// Kafka's records, by topic-partition.
	KafkaRecords map[string][]struct {
		Value string `json:"value"`
	} `json:"records"`
	// RabbitMQ's messages, by queue::vhost.
	RMQ map[string][]struct {
		Data string `json:"data"`
	} `json:"rmqMessagesByQueue"`
}

func main() {
	lambda.Start(func(_ context.Context, ev event) (map[string]int, error) {
		var datas []string
		for _, r := range ev.Records {
			if r.JetStream != nil {
				datas = append(datas, r.JetStream.Data)
			}
		}
		for _, rs := range ev.KafkaRecords {
			for _, r := range rs {
				datas = append(datas, r.Value)
			}
		}
		for _, rs := range ev.RMQ {
			for _, r := range rs {
				datas = append(datas, r.Data)
			}
		}
		for _, d := range datas {
			b, _ := base64.StdEncoding.DecodeString(d)
			if string(b) == "poison" {
				return nil, errors.New("poison record")
			}
		}
		return map[string]int{"records": len(datas)}, nil
	})
}
