package auth

import (
	"strings"
)

// algorithm is the only SigV4 signing algorithm Ember accepts.
const algorithm = "AWS4-HMAC-SHA256"

// authorization is a parsed SigV4 Authorization header (or the equivalent presigned query
// parameters). Its strings are substrings of the input: parsing does not allocate on success.
type authorization struct {
	credential    string // the Credential value as sent
	scope         scope  // credential split into its parts
	signedHeaders string // SignedHeaders as sent: lowercase names joined by ';'
	signature     string // hex signature as sent
}

// scope is a Credential: "<key>/<yyyymmdd>/<region>/<service>/aws4_request".
type scope struct {
	accessKeyID, date, region, service, terminator string
}

// parseAuthorization parses the value of an Authorization header of the form
//
//	AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request, SignedHeaders=a;b, Signature=<hex>
//
// and returns an IncompleteSignatureException, worded as AWS does, when it is not one.
func parseAuthorization(h string) (authorization, error) {
	var a authorization
	alg, rest, _ := strings.Cut(strings.TrimLeft(h, " "), " ")
	if alg != algorithm {
		if strings.HasPrefix(alg, "AWS4-") {
			return a, errIncomplete("Unsupported AWS 'algorithm': '%s'.", alg)
		}
		return a, errIncomplete("%s", missingParams(true, true, true, h))
	}
	var haveCred, haveSigned, haveSig bool
	for rest != "" {
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		part = strings.Trim(part, " ")
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return a, errIncomplete("'%s' not a valid key=value pair (missing equal-sign) in Authorization header: '%s'.", part, h)
		}
		switch k {
		case "Credential":
			a.credential, haveCred = v, true
		case "SignedHeaders":
			a.signedHeaders, haveSigned = v, true
		case "Signature":
			a.signature, haveSig = v, true
		}
	}
	if !haveCred || !haveSigned || !haveSig {
		return a, errIncomplete("%s", missingParams(!haveCred, !haveSig, !haveSigned, h))
	}
	sc, err := parseCredential(a.credential)
	if err != nil {
		return a, err
	}
	a.scope = sc
	if a.signedHeaders == "" {
		return a, errIncomplete("Authorization header requires 'SignedHeaders' parameter. Authorization=%s", h)
	}
	if a.signature == "" {
		return a, errIncomplete("Authorization header requires 'Signature' parameter. Authorization=%s", h)
	}
	return a, nil
}

// missingParams is AWS's message for an Authorization header that lacks parameters.
func missingParams(cred, sig, signed bool, h string) string {
	var b strings.Builder
	if cred {
		b.WriteString("Authorization header requires 'Credential' parameter. ")
	}
	if sig {
		b.WriteString("Authorization header requires 'Signature' parameter. ")
	}
	if signed {
		b.WriteString("Authorization header requires 'SignedHeaders' parameter. ")
	}
	b.WriteString("Authorization=")
	b.WriteString(h)
	return b.String()
}

// parseCredential splits a Credential value into its five parts.
func parseCredential(c string) (scope, error) {
	var parts [5]string
	rest := c
	for i := range parts {
		var ok bool
		if i == len(parts)-1 {
			parts[i], ok = rest, !strings.Contains(rest, "/")
		} else {
			parts[i], rest, ok = strings.Cut(rest, "/")
		}
		if !ok || parts[i] == "" {
			return scope{}, errIncomplete("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", c)
		}
	}
	return scope{accessKeyID: parts[0], date: parts[1], region: parts[2], service: parts[3], terminator: parts[4]}, nil
}
