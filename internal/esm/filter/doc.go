// Package filter implements Lambda's event filtering (FilterCriteria): EventBridge-style JSON
// patterns matched against one record of an event source, with equals, prefix, suffix,
// anything-but, numeric ranges, exists, equals-ignore-case and $or.
//
// It owns the pattern language only. It does not know where records come from, nor which of
// their fields (data, body, value) are decoded as JSON before matching: the event source
// mappings in internal/esm do that and hand a decoded document to Match.
package filter
