// Package kafka is the self-managed Apache Kafka source of event source mappings: a consumer
// group member (franz-go) that hands a topic's records out one partition at a time, in order,
// shapes them as Lambda's self-managed Kafka event, and commits a partition's offsets only
// after the records before them are done.
//
// It owns the Kafka client and the event's shape; batching, filtering, retries and
// destinations are internal/esm's.
package kafka
