package auth

import (
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
)

// This file builds the parts of SigV4's canonical request from a request as it arrived on the
// wire, the way aws-sdk-go-v2's signer and botocore build them from the request they send.

const upperHex = "0123456789ABCDEF"

// unreserved reports whether b is an RFC 3986 unreserved character, which SigV4 never escapes.
func unreserved(b byte) bool {
	return b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' ||
		b == '-' || b == '_' || b == '.' || b == '~'
}

// requestPath returns the path of r exactly as the client sent it (still percent-encoded): the
// path of the request-target, not the decoded URL.Path, because clients sign the path they send.
func requestPath(r *http.Request) string {
	uri := r.RequestURI
	if uri == "" || uri == "*" {
		if r.URL == nil {
			return "/"
		}
		return r.URL.EscapedPath()
	}
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		uri = uri[:i]
	}
	// Absolute-form request-target (proxies): http://host/path.
	if !strings.HasPrefix(uri, "/") {
		if i := strings.Index(uri, "://"); i >= 0 {
			uri = uri[i+3:]
			if j := strings.IndexByte(uri, '/'); j >= 0 {
				uri = uri[j:]
			} else {
				uri = "/"
			}
		}
	}
	return uri
}

// appendCanonicalURI appends the canonical URI of the wire path p: every byte but unreserved
// characters and '/' percent-encoded again, as non-S3 services require (so "%3A" becomes "%253A").
func appendCanonicalURI(dst []byte, p string) []byte {
	if p == "" {
		return append(dst, '/')
	}
	for i := 0; i < len(p); i++ {
		b := p[i]
		if unreserved(b) || b == '/' {
			dst = append(dst, b)
		} else {
			dst = append(dst, '%', upperHex[b>>4], upperHex[b&15])
		}
	}
	return dst
}

// normalizePath removes "." and ".." segments and empty segments from p, as botocore does before
// signing, and reports whether that changed anything.
func normalizePath(p string) (string, bool) {
	if !strings.Contains(p, "//") && !strings.Contains(p, "/.") {
		return p, false
	}
	var out []string
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	n := "/" + strings.Join(out, "/")
	if strings.HasSuffix(p, "/") && len(out) > 0 {
		n += "/"
	}
	return n, n != p
}

// queryParam is one name=value pair of a canonical query string, both already encoded.
type queryParam struct{ key, value string }

// appendCanonicalQuery appends the canonical query string of rawQuery: each name and value
// decoded and encoded again with only unreserved characters left bare, pairs sorted by name and
// then value (after encoding), a missing value written as empty. With presigned set, the
// X-Amz-Signature parameter is left out.
func appendCanonicalQuery(dst []byte, rawQuery string, presigned bool) []byte {
	if rawQuery == "" {
		return dst
	}
	var stack [16]queryParam
	params := stack[:0]
	for piece := range strings.SplitSeq(rawQuery, "&") {
		if piece == "" {
			continue
		}
		k, v, _ := strings.Cut(piece, "=")
		k, v = canonicalComponent(k), canonicalComponent(v)
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		params = append(params, queryParam{k, v})
	}
	slices.SortFunc(params, func(a, b queryParam) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	for i, p := range params {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, p.key...)
		dst = append(dst, '=')
		dst = append(dst, p.value...)
	}
	return dst
}

// canonicalComponent returns the SigV4 encoding of one raw query name or value: '+' and
// percent-escapes decoded, then everything but unreserved characters percent-encoded with
// uppercase hex. It returns s itself, without allocating, when s is already in that form.
func canonicalComponent(s string) string {
	if isCanonicalComponent(s) {
		return s
	}
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			c = ' '
		case c == '%' && i+2 < len(s) && ishex(s[i+1]) && ishex(s[i+2]):
			c = unhex(s[i+1])<<4 | unhex(s[i+2])
			i += 2
		}
		if unreserved(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return string(b)
}

// isCanonicalComponent reports whether s holds only unreserved characters and uppercase
// percent-escapes of characters that are not unreserved.
func isCanonicalComponent(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			continue
		}
		if c != '%' || i+2 >= len(s) || !isupperhex(s[i+1]) || !isupperhex(s[i+2]) {
			return false
		}
		if unreserved(unhex(s[i+1])<<4 | unhex(s[i+2])) {
			return false
		}
		i += 2
	}
	return true
}

func ishex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isupperhex(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// wellKnownHeaders maps the lowercase names clients usually sign to their canonical MIME form,
// so that looking them up does not allocate.
var wellKnownHeaders = map[string]string{
	"content-type":                 "Content-Type",
	"content-length":               "Content-Length",
	"content-encoding":             "Content-Encoding",
	"content-md5":                  "Content-Md5",
	"x-amz-date":                   "X-Amz-Date",
	"x-amz-content-sha256":         "X-Amz-Content-Sha256",
	"x-amz-security-token":         "X-Amz-Security-Token",
	"x-amz-target":                 "X-Amz-Target",
	"x-amz-user-agent":             "X-Amz-User-Agent",
	"x-amz-invocation-type":        "X-Amz-Invocation-Type",
	"x-amz-log-type":               "X-Amz-Log-Type",
	"x-amz-client-context":         "X-Amz-Client-Context",
	"x-amz-sdk-checksum-algorithm": "X-Amz-Sdk-Checksum-Algorithm",
	"x-amz-checksum-crc32":         "X-Amz-Checksum-Crc32",
	"amz-sdk-invocation-id":        "Amz-Sdk-Invocation-Id",
	"amz-sdk-request":              "Amz-Sdk-Request",
	"accept":                       "Accept",
	"accept-encoding":              "Accept-Encoding",
	"date":                         "Date",
	"expect":                       "Expect",
	"user-agent":                   "User-Agent",
}

// headerValues returns the values of the header whose lowercase name is name.
func headerValues(r *http.Request, name string) []string {
	key, ok := wellKnownHeaders[name]
	if !ok {
		key = textproto.CanonicalMIMEHeaderKey(name)
	}
	if v, ok := r.Header[key]; ok {
		return v
	}
	// Names the server did not canonicalise (e.g. with '_') are stored as sent.
	for k, v := range r.Header {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

// appendCanonicalHeaders appends one "name:value\n" line per name in signedHeaders (the
// SignedHeaders list as sent, names separated by ';'), values trimmed, inner runs of spaces
// collapsed and repeated headers joined with ','. It reports whether host was among them and
// whether the list was well formed (no empty names, no uppercase).
func appendCanonicalHeaders(dst []byte, r *http.Request, signedHeaders string) (out []byte, hasHost, ok bool) {
	for name := range strings.SplitSeq(signedHeaders, ";") {
		if name == "" {
			return dst, false, false
		}
		for i := 0; i < len(name); i++ {
			if c := name[i]; c >= 'A' && c <= 'Z' || c <= ' ' || c == ':' {
				return dst, false, false
			}
		}
		dst = append(dst, name...)
		dst = append(dst, ':')
		switch name {
		case "host":
			hasHost = true
			dst = appendTrimmed(dst, r.Host)
		case "content-length":
			if v := headerValues(r, name); len(v) > 0 {
				dst = appendValues(dst, v)
			} else if r.ContentLength >= 0 {
				dst = strconv.AppendInt(dst, r.ContentLength, 10)
			}
		case "transfer-encoding":
			if v := headerValues(r, name); len(v) > 0 {
				dst = appendValues(dst, v)
			} else {
				dst = appendValues(dst, r.TransferEncoding)
			}
		default:
			dst = appendValues(dst, headerValues(r, name))
		}
		dst = append(dst, '\n')
	}
	return dst, hasHost, true
}

func appendValues(dst []byte, vs []string) []byte {
	for i, v := range vs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendTrimmed(dst, v)
	}
	return dst
}

// appendTrimmed appends v without leading and trailing whitespace and with each inner run of
// spaces and tabs written as one space, as botocore does (aws-sdk-go-v2 collapses only spaces;
// the two agree unless a value holds a tab).
func appendTrimmed(dst []byte, v string) []byte {
	v = strings.Trim(v, " \t")
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' || c == '\t' {
			if space {
				continue
			}
			space = true
			c = ' '
		} else {
			space = false
		}
		dst = append(dst, c)
	}
	return dst
}
