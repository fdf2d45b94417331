package apimodel

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

//go:embed lambda.json
var modelJSON []byte

// model is lambda.json, loaded once.
var model = mustLoad(modelJSON)

type modelFile struct {
	Source     string                `json:"source"`
	Operations map[string]*operation `json:"operations"`
	Shapes     map[string]*shape     `json:"shapes"`
}

type operation struct {
	Method string `json:"method"`
	URI    string `json:"uri"`
	Input  string `json:"input"`

	input    *shape
	segments []string // the URI's path segments, labels as {Name} or {Name+}
}

type shape struct {
	Type      string   `json:"type"`
	Min       *int64   `json:"min"`
	Max       *int64   `json:"max"`
	Pattern   string   `json:"pattern"`
	Enum      []string `json:"enum"`
	Members   []member `json:"members"`
	Payload   string   `json:"payload"`
	Member    string   `json:"member"`
	Key       string   `json:"key"`
	Value     string   `json:"value"`
	Sensitive bool     `json:"sensitive"`

	member, key, value *shape
	re                 *regexp.Regexp
	// notAllDigits and notDotEnd stand for the model's lookarounds, which Go's regexp lacks:
	// (?!^[0-9]+$) and (?<!\.)$.
	notAllDigits, notDotEnd bool
	// enumText is the enum as AWS prints it, in the model's order.
	enumText string
}

type member struct {
	Name         string `json:"name"`
	Shape        string `json:"shape"`
	Location     string `json:"location"`
	LocationName string `json:"locationName"`
	Required     bool   `json:"required"`

	shape *shape
	// path is the member's name as AWS's messages print it: camelCase.
	path string
}

func mustLoad(data []byte) *modelFile {
	var m modelFile
	if err := json.Unmarshal(data, &m); err != nil {
		panic("apimodel: lambda.json: " + err.Error())
	}
	for name, s := range m.Shapes {
		if err := m.link(s); err != nil {
			panic(fmt.Sprintf("apimodel: shape %s: %v", name, err))
		}
	}
	for name, op := range m.Operations {
		if op.Input != "" {
			if op.input = m.Shapes[op.Input]; op.input == nil {
				panic("apimodel: operation " + name + ": no shape " + op.Input)
			}
		}
		path, _, _ := strings.Cut(op.URI, "?")
		op.segments = splitPath(path)
	}
	return &m
}

func (m *modelFile) link(s *shape) error {
	var ok bool
	if s.Member != "" {
		if s.member, ok = m.Shapes[s.Member]; !ok {
			return fmt.Errorf("no member shape %s", s.Member)
		}
	}
	if s.Key != "" {
		if s.key, ok = m.Shapes[s.Key]; !ok {
			return fmt.Errorf("no key shape %s", s.Key)
		}
	}
	if s.Value != "" {
		if s.value, ok = m.Shapes[s.Value]; !ok {
			return fmt.Errorf("no value shape %s", s.Value)
		}
	}
	for i := range s.Members {
		mb := &s.Members[i]
		if mb.shape, ok = m.Shapes[mb.Shape]; !ok {
			return fmt.Errorf("member %s: no shape %s", mb.Name, mb.Shape)
		}
		mb.path = camel(mb.Name)
	}
	if s.Pattern != "" {
		p := s.Pattern
		if strings.Contains(p, "(?!^[0-9]+$)") {
			p = strings.ReplaceAll(p, "(?!^[0-9]+$)", "")
			s.notAllDigits = true
		}
		if strings.Contains(p, `(?<!\.)$`) {
			p = strings.ReplaceAll(p, `(?<!\.)$`, "$")
			s.notDotEnd = true
		}
		re, err := regexp.Compile(`^(?:` + p + `)$`)
		if err != nil {
			return fmt.Errorf("pattern %q: %v", s.Pattern, err)
		}
		s.re = re
	}
	if len(s.Enum) > 0 {
		s.enumText = "[" + strings.Join(s.Enum, ", ") + "]"
	}
	return nil
}

// camel is a member name as AWS's validation messages print it: its first letter lower-case.
func camel(name string) string {
	if name == "" {
		return name
	}
	return strings.ToLower(name[:1]) + name[1:]
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// Operations is the name of every operation in the model.
func Operations() []string {
	out := make([]string, 0, len(model.Operations))
	for n := range model.Operations {
		out = append(out, n)
	}
	return out
}

// Source says which model the constraints were taken from.
func Source() string { return model.Source }
