package logs

import (
	"strings"
)

// pattern is a compiled filter pattern for unstructured log events, the subset of
// CloudWatch's syntax that matters for plain text: terms separated by spaces must all appear
// ("ERROR timeout"); "quoted phrases" appear as written; a term starting with '-' must not
// appear ("ERROR -retry"); terms starting with '?' are alternatives, at least one of which
// must appear ("?ERROR ?WARN"). Matching is case-sensitive, as in CloudWatch. An empty
// pattern matches everything. JSON ({...}) and space-delimited ([...]) patterns are refused.
type pattern struct {
	all  []string
	none []string
	any  []string
}

func compilePattern(p string) (*pattern, error) {
	p = strings.TrimSpace(p)
	pat := &pattern{}
	if p == "" {
		return pat, nil
	}
	if p[0] == '{' || p[0] == '[' {
		return nil, invalidParam("Invalid filter pattern: JSON and space-delimited filter patterns are not supported")
	}
	for i := 0; i < len(p); {
		if p[i] == ' ' || p[i] == '\t' {
			i++
			continue
		}
		kind := byte(0)
		if p[i] == '-' || p[i] == '?' {
			kind = p[i]
			i++
		}
		var term string
		if i < len(p) && p[i] == '"' {
			end := strings.IndexByte(p[i+1:], '"')
			if end < 0 {
				return nil, invalidParam("Invalid filter pattern: unterminated quote in %q", p)
			}
			term = p[i+1 : i+1+end]
			i += end + 2
		} else {
			j := i
			for j < len(p) && p[j] != ' ' && p[j] != '\t' {
				j++
			}
			term = p[i:j]
			i = j
		}
		if term == "" {
			continue
		}
		switch kind {
		case '-':
			pat.none = append(pat.none, term)
		case '?':
			pat.any = append(pat.any, term)
		default:
			pat.all = append(pat.all, term)
		}
	}
	return pat, nil
}

func (p *pattern) match(msg string) bool {
	for _, t := range p.all {
		if !strings.Contains(msg, t) {
			return false
		}
	}
	for _, t := range p.none {
		if strings.Contains(msg, t) {
			return false
		}
	}
	if len(p.any) == 0 {
		return true
	}
	for _, t := range p.any {
		if strings.Contains(msg, t) {
			return true
		}
	}
	return false
}
