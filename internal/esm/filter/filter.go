package filter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
)

// ErrInvalidPattern is wrapped by every error Compile returns.
var ErrInvalidPattern = errors.New("invalid filter pattern")

// MaxPatternLen is the API model's limit on one pattern (4,096 characters).
const MaxPatternLen = 4096

// Pattern is one compiled filter pattern.
type Pattern struct {
	root *object
}

// object is a pattern object: every field must match (AND), and so must one of each $or list.
type object struct {
	fields []field
	ors    [][]*object
}

type field struct {
	key string
	// sub is set when the pattern nests an object under key; rules when it lists matchers.
	sub   *object
	rules []rule
}

type ruleKind int

const (
	ruleEquals ruleKind = iota
	rulePrefix
	ruleSuffix
	ruleEqualsIgnoreCase
	ruleAnythingBut
	ruleNumeric
	ruleExists
)

// rule is one matcher of a field's list; a field matches when any of its rules does.
type rule struct {
	kind   ruleKind
	value  any    // ruleEquals: string, float64, bool or nil
	text   string // prefix, suffix, equals-ignore-case
	exists bool
	// anything-but: the excluded values, or one text rule (prefix, suffix, equals-ignore-case)
	but    []any
	butSub *rule
	// numeric: the bounds, each with its operator
	nums []numBound
}

type numBound struct {
	op string
	v  float64
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidPattern, fmt.Sprintf(format, args...))
}

// Compile parses a pattern as Lambda's FilterCriteria carries it (a JSON object in a string).
func Compile(pattern string) (*Pattern, error) {
	if len(pattern) > MaxPatternLen {
		return nil, invalid("the pattern is longer than %d characters", MaxPatternLen)
	}
	dec := json.NewDecoder(strings.NewReader(pattern))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, invalid("the pattern is not JSON: %v", err)
	}
	if dec.More() {
		return nil, invalid("the pattern has data after its JSON object")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, invalid("the pattern must be a JSON object")
	}
	root, err := compileObject(m, 0)
	if err != nil {
		return nil, err
	}
	return &Pattern{root: root}, nil
}

const maxDepth = 32

func compileObject(m map[string]any, depth int) (*object, error) {
	if depth > maxDepth {
		return nil, invalid("the pattern nests deeper than %d levels", maxDepth)
	}
	if len(m) == 0 {
		return nil, invalid("an object of the pattern is empty")
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	o := &object{}
	for _, k := range keys {
		v := m[k]
		if k == "$or" {
			list, ok := v.([]any)
			if !ok || len(list) < 2 {
				return nil, invalid("$or must list at least two patterns")
			}
			var alts []*object
			for _, a := range list {
				am, ok := a.(map[string]any)
				if !ok {
					return nil, invalid("every pattern of $or must be an object")
				}
				sub, err := compileObject(am, depth+1)
				if err != nil {
					return nil, err
				}
				alts = append(alts, sub)
			}
			o.ors = append(o.ors, alts)
			continue
		}
		switch v := v.(type) {
		case map[string]any:
			sub, err := compileObject(v, depth+1)
			if err != nil {
				return nil, err
			}
			o.fields = append(o.fields, field{key: k, sub: sub})
		case []any:
			if len(v) == 0 {
				return nil, invalid("the list of %q is empty", k)
			}
			f := field{key: k}
			for _, r := range v {
				rl, err := compileRule(k, r)
				if err != nil {
					return nil, err
				}
				f.rules = append(f.rules, rl)
			}
			o.fields = append(o.fields, f)
		default:
			return nil, invalid("the value of %q must be an object or a list of matchers", k)
		}
	}
	return o, nil
}

// literal turns a decoded JSON scalar into what rules compare: string, float64, bool or nil.
func literal(v any) (any, bool) {
	switch v := v.(type) {
	case nil, string, bool:
		return v, true
	case json.Number:
		f, err := v.Float64()
		if err != nil || math.IsInf(f, 0) {
			return nil, false
		}
		return f, true
	case float64:
		return v, true
	}
	return nil, false
}

func compileRule(key string, r any) (rule, error) {
	if lit, ok := literal(r); ok {
		return rule{kind: ruleEquals, value: lit}, nil
	}
	m, ok := r.(map[string]any)
	if !ok || len(m) != 1 {
		return rule{}, invalid("a matcher of %q must be a value or an object with one operator", key)
	}
	for op, arg := range m {
		switch op {
		case "prefix", "suffix", "equals-ignore-case":
			s, ok := arg.(string)
			if !ok {
				return rule{}, invalid("%s of %q takes a string", op, key)
			}
			kind := map[string]ruleKind{"prefix": rulePrefix, "suffix": ruleSuffix, "equals-ignore-case": ruleEqualsIgnoreCase}[op]
			return rule{kind: kind, text: s}, nil
		case "exists":
			b, ok := arg.(bool)
			if !ok {
				return rule{}, invalid("exists of %q takes true or false", key)
			}
			return rule{kind: ruleExists, exists: b}, nil
		case "anything-but":
			return compileAnythingBut(key, arg)
		case "numeric":
			return compileNumeric(key, arg)
		default:
			return rule{}, invalid("%q is not a matcher Lambda's filters have (in %q)", op, key)
		}
	}
	panic("unreachable")
}

func compileAnythingBut(key string, arg any) (rule, error) {
	if lit, ok := literal(arg); ok && lit != nil {
		if _, isBool := lit.(bool); !isBool {
			return rule{kind: ruleAnythingBut, but: []any{lit}}, nil
		}
	}
	switch a := arg.(type) {
	case []any:
		if len(a) == 0 {
			return rule{}, invalid("anything-but of %q lists nothing", key)
		}
		r := rule{kind: ruleAnythingBut}
		for _, v := range a {
			lit, ok := literal(v)
			if !ok || lit == nil {
				return rule{}, invalid("anything-but of %q lists only strings or numbers", key)
			}
			if _, isBool := lit.(bool); isBool {
				return rule{}, invalid("anything-but of %q lists only strings or numbers", key)
			}
			r.but = append(r.but, lit)
		}
		return r, nil
	case map[string]any:
		if len(a) != 1 {
			return rule{}, invalid("anything-but of %q takes one operator", key)
		}
		for op, v := range a {
			s, ok := v.(string)
			if !ok || (op != "prefix" && op != "suffix" && op != "equals-ignore-case") {
				return rule{}, invalid("anything-but of %q takes prefix, suffix or equals-ignore-case with a string", key)
			}
			sub, _ := compileRule(key, map[string]any{op: s})
			return rule{kind: ruleAnythingBut, butSub: &sub}, nil
		}
	}
	return rule{}, invalid("anything-but of %q takes a string, a number, a list of them, or a prefix or suffix", key)
}

func compileNumeric(key string, arg any) (rule, error) {
	a, ok := arg.([]any)
	if !ok || len(a) == 0 || len(a)%2 != 0 || len(a) > 4 {
		return rule{}, invalid("numeric of %q takes one or two pairs of an operator and a number", key)
	}
	r := rule{kind: ruleNumeric}
	for i := 0; i < len(a); i += 2 {
		op, ok := a[i].(string)
		if !ok {
			return rule{}, invalid("numeric of %q: %v is not an operator", key, a[i])
		}
		switch op {
		case "=", "<", "<=", ">", ">=":
		default:
			return rule{}, invalid("numeric of %q: %q is not one of =, <, <=, >, >=", key, op)
		}
		lit, ok := literal(a[i+1])
		f, isNum := lit.(float64)
		if !ok || !isNum {
			return rule{}, invalid("numeric of %q: %v is not a number", key, a[i+1])
		}
		r.nums = append(r.nums, numBound{op: op, v: f})
	}
	if len(r.nums) == 2 {
		lo, hi := r.nums[0], r.nums[1]
		if !(lo.op == ">" || lo.op == ">=") || !(hi.op == "<" || hi.op == "<=") || lo.v > hi.v {
			return rule{}, invalid("numeric of %q: a range is a lower bound (> or >=) then a higher upper bound (< or <=)", key)
		}
	}
	return r, nil
}

// Match reports whether doc, a decoded JSON object (map[string]any, with numbers as float64 or
// json.Number), matches the pattern.
func (p *Pattern) Match(doc map[string]any) bool {
	return p.root.match(doc)
}

func (o *object) match(doc map[string]any) bool {
	for _, f := range o.fields {
		v, present := doc[f.key]
		if f.sub != nil {
			if !matchSub(f.sub, v, present) {
				return false
			}
			continue
		}
		if !f.matchValue(v, present) {
			return false
		}
	}
	for _, alts := range o.ors {
		any := false
		for _, a := range alts {
			if a.match(doc) {
				any = true
				break
			}
		}
		if !any {
			return false
		}
	}
	return true
}

// matchSub matches a nested pattern object against v: an object, or a list of which one
// object must match.
func matchSub(sub *object, v any, present bool) bool {
	if !present {
		// A nested pattern can still match an absent object when all it asks is absence.
		return sub.match(map[string]any{})
	}
	switch v := v.(type) {
	case map[string]any:
		return sub.match(v)
	case []any:
		for _, e := range v {
			if m, ok := e.(map[string]any); ok && sub.match(m) {
				return true
			}
		}
	}
	return false
}

func (f field) matchValue(v any, present bool) bool {
	for _, r := range f.rules {
		if r.kind == ruleExists {
			// exists asks about a leaf value: an object is not one, an empty list has none.
			has := present
			switch x := v.(type) {
			case map[string]any:
				has = false
			case []any:
				has = len(x) > 0
			}
			if has == r.exists {
				return true
			}
			continue
		}
		if !present {
			continue
		}
		if list, ok := v.([]any); ok {
			for _, e := range list {
				if r.matchLeaf(e) {
					return true
				}
			}
			continue
		}
		if r.matchLeaf(v) {
			return true
		}
	}
	return false
}

func (r *rule) matchLeaf(v any) bool {
	lit, ok := literal(v)
	if !ok {
		return false
	}
	switch r.kind {
	case ruleEquals:
		return lit == r.value
	case rulePrefix:
		s, ok := lit.(string)
		return ok && strings.HasPrefix(s, r.text)
	case ruleSuffix:
		s, ok := lit.(string)
		return ok && strings.HasSuffix(s, r.text)
	case ruleEqualsIgnoreCase:
		s, ok := lit.(string)
		return ok && strings.EqualFold(s, r.text)
	case ruleAnythingBut:
		if r.butSub != nil {
			s, ok := lit.(string)
			return ok && !r.butSub.matchLeaf(s)
		}
		if _, ok := lit.(string); !ok {
			if _, ok := lit.(float64); !ok {
				return false
			}
		}
		for _, b := range r.but {
			if lit == b {
				return false
			}
		}
		return true
	case ruleNumeric:
		f, ok := lit.(float64)
		if !ok {
			return false
		}
		for _, b := range r.nums {
			if !compare(f, b) {
				return false
			}
		}
		return true
	}
	return false
}

func compare(f float64, b numBound) bool {
	switch b.op {
	case "=":
		return f == b.v
	case "<":
		return f < b.v
	case "<=":
		return f <= b.v
	case ">":
		return f > b.v
	case ">=":
		return f >= b.v
	}
	return false
}

// Criteria is a mapping's FilterCriteria compiled: a record is kept when any of its patterns
// matches it, or when there are none.
type Criteria []*Pattern

// MaxFilters is Lambda's default limit on the filters of one mapping.
const MaxFilters = 5

// CompileAll compiles a mapping's patterns.
func CompileAll(patterns []string) (Criteria, error) {
	if len(patterns) > MaxFilters {
		return nil, invalid("a mapping takes at most %d filters", MaxFilters)
	}
	c := make(Criteria, 0, len(patterns))
	for _, p := range patterns {
		cp, err := Compile(p)
		if err != nil {
			return nil, err
		}
		c = append(c, cp)
	}
	return c, nil
}

// Keep reports whether a record, as a decoded document, passes the criteria.
func (c Criteria) Keep(doc map[string]any) bool {
	if len(c) == 0 {
		return true
	}
	for _, p := range c {
		if p.Match(doc) {
			return true
		}
	}
	return false
}

// Decode reads a JSON document for matching: an object with numbers as float64. ok is false
// when b is not a JSON value.
func Decode(b []byte) (v any, ok bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || !json.Valid(b) {
		return nil, false
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, false
	}
	return v, true
}
