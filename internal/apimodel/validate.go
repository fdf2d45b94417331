package apimodel

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// Validate checks a request to op (an operation's name in the model) against the model's
// constraints: the members bound to the URI's labels, the query string, the headers and the
// JSON body. It returns a ValidationException listing every violation, as AWS does, or nil. An
// operation the model does not have, a body that is not JSON, and members of the wrong JSON
// type are left to the operation's handler, which answers them with its own errors.
func Validate(op string, r *http.Request, body []byte) error {
	o := model.Operations[op]
	if o == nil || o.input == nil {
		return nil
	}
	var v validation
	v.request(o, r, body)
	return v.err()
}

// Known reports whether op is an operation of the model.
func Known(op string) bool { _, ok := model.Operations[op]; return ok }

type validation struct {
	problems []string
}

func (v *validation) err() error {
	switch n := len(v.problems); n {
	case 0:
		return nil
	case 1:
		return lambdaerr.New(lambdaerr.Validation, "1 validation error detected: %s", v.problems[0])
	default:
		return lambdaerr.New(lambdaerr.Validation, "%d validation errors detected: %s", n, strings.Join(v.problems, "; "))
	}
}

func (v *validation) add(value *string, path, constraint string, sensitive bool) {
	var b strings.Builder
	b.WriteString("Value ")
	switch {
	case sensitive:
	case value == nil:
		b.WriteString("null ")
	default:
		b.WriteString("'" + *value + "' ")
	}
	b.WriteString("at '" + path + "' failed to satisfy constraint: " + constraint)
	v.problems = append(v.problems, b.String())
}

func (v *validation) request(o *operation, r *http.Request, body []byte) {
	in := o.input
	labels := pathLabels(o.segments, r.URL.EscapedPath())
	var query url.Values
	var fields map[string]any
	bodyParsed := false
	for i := range in.Members {
		m := &in.Members[i]
		var val any
		present := false
		switch m.Location {
		case "uri":
			s, ok := labels[m.LocationName]
			val, present = s, ok && s != ""
		case "querystring":
			if query == nil {
				query = r.URL.Query()
			}
			vs := query[m.LocationName]
			if len(vs) == 0 || (len(vs) == 1 && vs[0] == "") {
				break
			}
			present = true
			switch m.shape.Type {
			case "list":
				items := make([]any, len(vs))
				for i, s := range vs {
					items[i] = s
				}
				val = items
			case "integer", "long":
				n, err := strconv.ParseInt(vs[0], 10, 64)
				if err != nil {
					present = false // the handler answers a malformed number
					break
				}
				val = json.Number(strconv.FormatInt(n, 10))
			default:
				val = vs[0]
			}
		case "header", "headers":
			if m.Location == "headers" {
				break
			}
			if hv := r.Header.Values(m.LocationName); len(hv) > 0 && hv[0] != "" {
				val, present = hv[0], true
			}
		default:
			if in.Payload != "" {
				// The body is the payload member itself: a blob (Invoke's Payload) is not
				// checked here; a structure is.
				if m.Name != in.Payload || m.shape.Type != "structure" {
					continue
				}
				if !bodyParsed {
					fields, bodyParsed = parseObject(body), true
				}
				val, present = any(fields), fields != nil
				break
			}
			if !bodyParsed {
				fields, bodyParsed = parseObject(body), true
			}
			if fields == nil && len(bytes.TrimSpace(body)) > 0 {
				return // not a JSON object: the handler says so
			}
			val, present = fields[m.Name]
			if present && val == nil {
				present = false
			}
		}
		if !present {
			if m.Required {
				v.add(nil, m.path, "Member must not be null", false)
			}
			continue
		}
		v.value(val, m.shape, m.path)
	}
}

// parseObject decodes a JSON object body, keeping numbers as written; nil when body is empty or
// not an object.
func parseObject(body []byte) map[string]any {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil
	}
	return m
}

// pathLabels matches a request's escaped path against an operation's URI segments and returns
// each label's unescaped value.
func pathLabels(segments []string, escaped string) map[string]string {
	got := splitPath(escaped)
	out := map[string]string{}
	for i, seg := range segments {
		if !strings.HasPrefix(seg, "{") || i >= len(got) {
			continue
		}
		name := strings.Trim(seg, "{}")
		if greedy := strings.HasSuffix(name, "+"); greedy {
			name = strings.TrimSuffix(name, "+")
			s, err := url.PathUnescape(strings.Join(got[i:], "/"))
			if err == nil {
				out[name] = s
			}
			continue
		}
		if s, err := url.PathUnescape(got[i]); err == nil {
			out[name] = s
		}
	}
	return out
}

// value checks one present value against its shape; path names it in messages.
func (v *validation) value(val any, s *shape, path string) {
	switch s.Type {
	case "string":
		str, ok := val.(string)
		if !ok {
			return
		}
		for _, c := range s.stringProblems(str) {
			v.add(&str, path, c, s.Sensitive)
		}
	case "integer", "long", "float", "double":
		num, ok := val.(json.Number)
		if !ok {
			return
		}
		text := num.String()
		for _, c := range s.numberProblems(num) {
			v.add(&text, path, c, s.Sensitive)
		}
	case "list":
		items, ok := val.([]any)
		if !ok {
			return
		}
		text := render(items)
		if s.Max != nil && int64(len(items)) > *s.Max {
			v.add(&text, path, "Member must have length less than or equal to "+strconv.FormatInt(*s.Max, 10), s.Sensitive)
		}
		if s.Min != nil && int64(len(items)) < *s.Min {
			v.add(&text, path, "Member must have length greater than or equal to "+strconv.FormatInt(*s.Min, 10), s.Sensitive)
		}
		if s.member != nil && s.member.Type == "string" {
			for _, it := range items {
				str, ok := it.(string)
				if it == nil || ok && len(s.member.stringProblems(str)) > 0 {
					v.add(&text, path, "Member must satisfy constraint: ["+s.member.describe()+"]", s.Sensitive || s.member.Sensitive)
					break
				}
			}
		} else if s.member != nil && s.member.Type == "structure" {
			for i, it := range items {
				v.value(it, s.member, path+"."+strconv.Itoa(i+1)+".member")
			}
		}
	case "map":
		m, ok := val.(map[string]any)
		if !ok {
			return
		}
		text := render(m)
		sensitive := s.Sensitive || (s.key != nil && s.key.Sensitive) || (s.value != nil && s.value.Sensitive)
		if s.Max != nil && int64(len(m)) > *s.Max {
			v.add(&text, path, "Member must have length less than or equal to "+strconv.FormatInt(*s.Max, 10), sensitive)
		}
		if s.Min != nil && int64(len(m)) < *s.Min {
			v.add(&text, path, "Member must have length greater than or equal to "+strconv.FormatInt(*s.Min, 10), sensitive)
		}
		keys := sortedKeys(m)
		if s.key != nil && s.key.Type == "string" {
			for _, k := range keys {
				if len(s.key.stringProblems(k)) > 0 {
					v.add(&text, path, "Map keys must satisfy constraint: ["+s.key.describe()+"]", sensitive)
					break
				}
			}
		}
		if s.value != nil && (s.value.Type == "string" || s.value.numeric()) {
			for _, k := range keys {
				str, isStr := m[k].(string)
				num, isNum := m[k].(json.Number)
				if m[k] == nil || isStr && s.value.Type == "string" && len(s.value.stringProblems(str)) > 0 ||
					isNum && s.value.numeric() && len(s.value.numberProblems(num)) > 0 {
					v.add(&text, path, "Map value must satisfy constraint: ["+s.value.describe()+"]", sensitive)
					break
				}
			}
		}
	case "structure":
		obj, ok := val.(map[string]any)
		if !ok {
			return
		}
		for i := range s.Members {
			m := &s.Members[i]
			mv, present := obj[m.Name]
			if !present || mv == nil {
				if m.Required {
					v.add(nil, path+"."+m.path, "Member must not be null", false)
				}
				continue
			}
			v.value(mv, m.shape, path+"."+m.path)
		}
	}
}

// stringProblems is every constraint str breaks, in the order AWS lists them.
func (s *shape) stringProblems(str string) []string {
	var out []string
	n := javaLength(str)
	if s.Max != nil && n > *s.Max {
		out = append(out, "Member must have length less than or equal to "+strconv.FormatInt(*s.Max, 10))
	}
	if s.Min != nil && n < *s.Min {
		out = append(out, "Member must have length greater than or equal to "+strconv.FormatInt(*s.Min, 10))
	}
	if s.re != nil && !s.matches(str) {
		out = append(out, "Member must satisfy regular expression pattern: "+s.Pattern)
	}
	if len(s.Enum) > 0 && !contains(s.Enum, str) {
		out = append(out, "Member must satisfy enum value set: "+s.enumText)
	}
	return out
}

// numberProblems is every range constraint num breaks.
func (s *shape) numberProblems(num json.Number) []string {
	f, err := num.Float64()
	if err != nil {
		return nil
	}
	var out []string
	if s.Min != nil && f < float64(*s.Min) {
		out = append(out, "Member must have value greater than or equal to "+s.bound(*s.Min))
	}
	if s.Max != nil && f > float64(*s.Max) {
		out = append(out, "Member must have value less than or equal to "+s.bound(*s.Max))
	}
	return out
}

func (s *shape) numeric() bool {
	switch s.Type {
	case "integer", "long", "float", "double":
		return true
	}
	return false
}

// bound prints a range's bound as Java prints the shape's type: 1 for an integer, 1.0 for a
// double.
func (s *shape) bound(n int64) string {
	if s.Type == "float" || s.Type == "double" {
		return strconv.FormatInt(n, 10) + ".0"
	}
	return strconv.FormatInt(n, 10)
}

// describe is every constraint of an element shape, as AWS lists them for a list's members.
func (s *shape) describe() string {
	var out []string
	if s.numeric() {
		if s.Max != nil {
			out = append(out, "Member must have value less than or equal to "+s.bound(*s.Max))
		}
		if s.Min != nil {
			out = append(out, "Member must have value greater than or equal to "+s.bound(*s.Min))
		}
		return strings.Join(append(out, "Member must not be null"), ", ")
	}
	if s.Max != nil {
		out = append(out, "Member must have length less than or equal to "+strconv.FormatInt(*s.Max, 10))
	}
	if s.Min != nil {
		out = append(out, "Member must have length greater than or equal to "+strconv.FormatInt(*s.Min, 10))
	}
	if s.re != nil {
		out = append(out, "Member must satisfy regular expression pattern: "+s.Pattern)
	}
	if len(s.Enum) > 0 {
		out = append(out, "Member must satisfy enum value set: "+s.enumText)
	}
	out = append(out, "Member must not be null")
	return strings.Join(out, ", ")
}

func (s *shape) matches(str string) bool {
	if !s.re.MatchString(str) {
		return false
	}
	if s.notAllDigits && str != "" && strings.Trim(str, "0123456789") == "" {
		return false
	}
	if s.notDotEnd && strings.HasSuffix(str, ".") {
		return false
	}
	return true
}

// javaLength is a string's length as Java counts it (UTF-16 code units), which is what AWS's
// length constraints count.
func javaLength(s string) int64 {
	n := int64(0)
	for _, r := range s {
		if r == utf8.RuneError {
			n++
			continue
		}
		n += int64(utf16.RuneLen(r))
	}
	return n
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// render prints a list or map value as AWS's messages do (Java's toString): [a, b] and
// {k=v, k2=v2}.
func render(val any) string {
	switch x := val.(type) {
	case nil:
		return "null"
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case []any:
		parts := make([]string, len(x))
		for i, it := range x {
			parts[i] = render(it)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := sortedKeys(x)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + render(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return ""
}
