package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultMaxSkew is how far a request's signing time may be from the server's clock, as AWS.
const DefaultMaxSkew = 15 * time.Minute

// maxPresignExpires is the longest X-Amz-Expires AWS accepts: a week.
const maxPresignExpires = 7 * 24 * time.Hour

// unsignedPayload is the payload hash that leaves the body out of the signature.
const unsignedPayload = "UNSIGNED-PAYLOAD"

// maxCachedKeys bounds the derived signing key cache; it is cleared when full.
const maxCachedKeys = 1024

// Identity is who signed a request, and for which region and service.
type Identity struct {
	AccessKeyID string
	Region      string
	Service     string
}

// Verifier checks AWS Signature Version 4 signatures against Keys. Its zero value, given Keys,
// is ready to use; it is safe for concurrent use and must not be copied after first use.
type Verifier struct {
	// Keys are the access keys the server accepts.
	Keys Keys
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxSkew is how far the signing time may be from Now; 0 means 15 minutes.
	MaxSkew time.Duration
	// Region, when set, is the only region a credential scope may name.
	Region string
	// Services, when set, are the only services a credential scope may name (e.g. "lambda",
	// "logs").
	Services []string
	// Logger, when set, receives the canonical request of each signature that does not match,
	// at debug level, to help users find what their client signed differently.
	Logger *slog.Logger

	mu   sync.RWMutex
	keys map[keyID][sha256.Size]byte
}

// keyID identifies a derived signing key.
type keyID struct{ secret, date, region, service string }

// bufPool holds scratch buffers for canonical requests and strings to sign.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// Verify checks the SigV4 signature of r, whose full body the caller has already read into
// body. It accepts the Authorization-header form and the presigned query-string form
// (X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders,
// X-Amz-Signature). The payload hash signed is the body's SHA-256, or the value of
// X-Amz-Content-Sha256 when set: UNSIGNED-PAYLOAD, or a hash that must match the body. A
// presigned request without X-Amz-Content-Sha256 may have signed either the body's hash or
// UNSIGNED-PAYLOAD, as S3's presigned URLs do.
//
// Errors are *lambdaerr.Error with AWS's types and messages: MissingAuthenticationTokenException
// when there is no signature at all, IncompleteSignatureException (400) when it cannot be
// parsed, UnrecognizedClientException for an unknown key, InvalidSignatureException for a
// wrong signature, a signing time out of range or an expired presigned URL.
func (v *Verifier) Verify(r *http.Request, body []byte) (Identity, error) {
	return v.verify(r, body, false)
}

// Precheck checks what of r's signature can be checked before its body is read: that it is
// well formed, names a known access key, the right region and service, and a signing time in
// range. When r declares its payload hash (X-Amz-Content-Sha256: a SHA-256 or
// UNSIGNED-PAYLOAD), the signature itself is checked as well. It lets a server refuse an
// unauthenticated request without holding its body; Verify must still be called with the body.
// The AWS CLI and SDKs do not send X-Amz-Content-Sha256 to Lambda, so for them the signature
// waits for the body.
func (v *Verifier) Precheck(r *http.Request) error {
	_, err := v.verify(r, nil, true)
	return err
}

func (v *Verifier) verify(r *http.Request, body []byte, noBody bool) (Identity, error) {
	if h := r.Header["Authorization"]; len(h) > 0 && strings.TrimSpace(h[0]) != "" {
		if hasQueryParam(r.URL.RawQuery, "X-Amz-Algorithm") || hasQueryParam(r.URL.RawQuery, "X-Amz-Signature") {
			return Identity{}, errIncomplete("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
		}
		return v.verifyHeader(r, body, h[0], noBody)
	}
	if hasQueryParam(r.URL.RawQuery, "X-Amz-Algorithm") || hasQueryParam(r.URL.RawQuery, "X-Amz-Credential") ||
		hasQueryParam(r.URL.RawQuery, "X-Amz-Signature") {
		return v.verifyPresigned(r, body, noBody)
	}
	return Identity{}, errMissingToken()
}

// hasQueryParam reports whether the raw query has a parameter called name (as sent).
func hasQueryParam(rawQuery, name string) bool {
	for rawQuery != "" {
		i := strings.Index(rawQuery, name)
		if i < 0 {
			return false
		}
		end := i + len(name)
		if (i == 0 || rawQuery[i-1] == '&') && (end == len(rawQuery) || rawQuery[end] == '=' || rawQuery[end] == '&') {
			return true
		}
		rawQuery = rawQuery[end:]
	}
	return false
}

// signing is what a request says about its signature, whichever form carried it.
type signing struct {
	auth      authorization
	amzDate   string    // the signing time as written into the string to sign
	time      time.Time // amzDate parsed
	presigned bool
	expires   time.Duration // X-Amz-Expires; 0 when absent
	// payloadHash is the payload hash the request declares, or "" for the body's hash.
	payloadHash string
	// tryUnsigned says to try UNSIGNED-PAYLOAD too when the body's hash does not verify (a
	// presigned request that does not declare its payload hash).
	tryUnsigned bool
	hasHost     bool // set by canonicalRequest: whether host is a signed header
	// noBody says the body has not been read: the signature is checked only when the payload
	// hash is declared.
	noBody bool
}

func (v *Verifier) verifyHeader(r *http.Request, body []byte, h string, noBody bool) (Identity, error) {
	a, err := parseAuthorization(h)
	if err != nil {
		return Identity{}, err
	}
	s := signing{auth: a, noBody: noBody}
	if d := r.Header["X-Amz-Date"]; len(d) > 0 {
		s.amzDate = d[0]
		s.time, err = time.Parse(iso8601Basic, s.amzDate)
		if err != nil {
			return Identity{}, errIncomplete("Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", s.amzDate)
		}
	} else if d := r.Header["Date"]; len(d) > 0 {
		s.time, err = parseDateHeader(d[0])
		if err != nil {
			return Identity{}, errIncomplete("Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", d[0])
		}
		s.amzDate = s.time.UTC().Format(iso8601Basic)
	} else {
		return Identity{}, errIncomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=%s", h)
	}
	s.payloadHash, err = givenPayloadHash(body, r.Header["X-Amz-Content-Sha256"], noBody)
	if err != nil {
		return Identity{}, err
	}
	return v.check(r, body, &s)
}

func (v *Verifier) verifyPresigned(r *http.Request, body []byte, noBody bool) (Identity, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return Identity{}, errIncomplete("The query string is malformed: %v", err)
	}
	var missing []string
	for _, p := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders"} {
		if q.Get(p) == "" {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return Identity{}, errIncomplete("AWS query-string parameters must include %s. Re-examine the query-string parameters.", quoteList(missing))
	}
	if alg := q.Get("X-Amz-Algorithm"); alg != algorithm {
		return Identity{}, errIncomplete("Unsupported AWS 'algorithm': '%s'.", alg)
	}
	sc, err := parseCredential(q.Get("X-Amz-Credential"))
	if err != nil {
		return Identity{}, err
	}
	s := signing{
		auth: authorization{
			credential:    q.Get("X-Amz-Credential"),
			scope:         sc,
			signedHeaders: q.Get("X-Amz-SignedHeaders"),
			signature:     q.Get("X-Amz-Signature"),
		},
		amzDate:   q.Get("X-Amz-Date"),
		presigned: true,
		noBody:    noBody,
	}
	s.time, err = time.Parse(iso8601Basic, s.amzDate)
	if err != nil {
		return Identity{}, errIncomplete("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	if e, ok := q["X-Amz-Expires"]; ok {
		n, err := strconv.ParseInt(e[0], 10, 64)
		if err != nil {
			return Identity{}, errIncomplete("X-Amz-Expires should be a number")
		}
		if n <= 0 {
			return Identity{}, errIncomplete("X-Amz-Expires must be non-negative")
		}
		if n > int64(maxPresignExpires/time.Second) {
			return Identity{}, errIncomplete("X-Amz-Expires must be less than a week (in seconds) that is 604800")
		}
		s.expires = time.Duration(n) * time.Second
	}
	given := r.Header["X-Amz-Content-Sha256"]
	if h, ok := q["X-Amz-Content-Sha256"]; ok {
		given = h
	}
	s.payloadHash, err = givenPayloadHash(body, given, noBody)
	if err != nil {
		return Identity{}, err
	}
	s.tryUnsigned = s.payloadHash == ""
	return v.check(r, body, &s)
}

// parseDateHeader parses a Date header in the forms clients send: RFC 7231's IMF-fixdate (and
// its obsolete variants), RFC 1123 with a numeric zone (botocore writes "-0000"), or ISO 8601.
func parseDateHeader(s string) (time.Time, error) {
	if t, err := http.ParseTime(s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC1123Z, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(iso8601Basic, s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, s)
}

// givenPayloadHash returns the payload hash a request declares in X-Amz-Content-Sha256: ""
// when it declares none, UNSIGNED-PAYLOAD, or a hex SHA-256 that must match body (unless noBody:
// the body is not read yet).
func givenPayloadHash(body []byte, given []string, noBody bool) (string, error) {
	if len(given) == 0 || given[0] == "" {
		return "", nil
	}
	g := given[0]
	if g == unsignedPayload {
		return g, nil
	}
	var want [sha256.Size]byte
	if len(g) != hex.EncodedLen(sha256.Size) {
		return "", errInvalidSignature("%s", msgHashMismatch)
	}
	if _, err := hex.Decode(want[:], []byte(g)); err != nil {
		return "", errInvalidSignature("%s", msgHashMismatch)
	}
	if !noBody && sha256.Sum256(body) != want {
		return "", errInvalidSignature("%s", msgHashMismatch)
	}
	return g, nil
}

// unsignedPayloadBytes is unsignedPayload, converted once.
var unsignedPayloadBytes = []byte(unsignedPayload)

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	return strings.Join(q, ", ")
}

// check verifies a parsed signature: key, time, scope, then the signature itself.
func (v *Verifier) check(r *http.Request, body []byte, s *signing) (Identity, error) {
	sc := s.auth.scope
	if v.Keys == nil {
		return Identity{}, errUnrecognizedClient()
	}
	secret, ok := v.Keys.SecretFor(sc.accessKeyID)
	if !ok {
		return Identity{}, errUnrecognizedClient()
	}
	if err := v.checkTime(s); err != nil {
		return Identity{}, err
	}
	if sc.date != s.amzDate[:8] {
		return Identity{}, errInvalidSignature("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", sc.date, s.amzDate[:8], s.amzDate)
	}
	if sc.terminator != "aws4_request" {
		return Identity{}, errInvalidSignature("Credential should be scoped with a valid terminator: 'aws4_request', not '%s'.", sc.terminator)
	}
	if v.Region != "" && sc.region != v.Region {
		return Identity{}, errInvalidSignature("Credential should be scoped to a valid region, not '%s'. ", sc.region)
	}
	if len(v.Services) > 0 && !slices.Contains(v.Services, sc.service) {
		return Identity{}, errInvalidSignature("Credential should be scoped to correct service: '%s'. ", v.Services[0])
	}
	var want [sha256.Size]byte
	if len(s.auth.signature) != hex.EncodedLen(sha256.Size) {
		return Identity{}, errSignatureMismatch()
	}
	if _, err := hex.Decode(want[:], []byte(s.auth.signature)); err != nil {
		return Identity{}, errSignatureMismatch()
	}
	if s.noBody && s.payloadHash == "" {
		// The payload hash, and so the signature, needs the body.
		return Identity{AccessKeyID: sc.accessKeyID, Region: sc.region, Service: sc.service}, nil
	}
	key := v.signingKey(secret, sc)

	path := requestPath(r)
	// The payload hashes to try, in stack buffers so that the hot path does not allocate.
	var declared, computed [2 * sha256.Size]byte
	var hashes [2][]byte
	if s.payloadHash != "" {
		hashes[0] = declared[:copy(declared[:], s.payloadHash)]
	} else {
		sum := sha256.Sum256(body)
		hex.Encode(computed[:], sum[:])
		hashes[0] = computed[:]
		if s.tryUnsigned {
			hashes[1] = unsignedPayloadBytes
		}
	}
	paths := [2]string{path, ""}
	if n, changed := normalizePath(path); changed {
		paths[1] = n
	}
	for i, p := range paths {
		if i > 0 && p == "" {
			continue
		}
		for _, h := range hashes {
			if h == nil {
				continue
			}
			got, err := v.sign(r, s, &key, p, h)
			if err != nil {
				return Identity{}, err
			}
			if hmac.Equal(got[:], want[:]) {
				return Identity{AccessKeyID: sc.accessKeyID, Region: sc.region, Service: sc.service}, nil
			}
		}
	}
	if v.Logger != nil {
		buf := v.canonicalRequest(nil, r, s, path, hashes[0])
		v.Logger.Debug("signature mismatch", "access_key_id", sc.accessKeyID, "canonical_request", string(buf))
	}
	return Identity{}, errSignatureMismatch()
}

// checkTime checks the signing time against the clock, and a presigned request's expiry.
func (v *Verifier) checkTime(s *signing) error {
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	now = now.UTC()
	skew := v.MaxSkew
	if skew <= 0 {
		skew = DefaultMaxSkew
	}
	if late := now.Add(skew); s.time.After(late) {
		return errInvalidSignature("Signature not yet current: %s is still later than %s (%s + %s)",
			s.amzDate, late.Format(iso8601Basic), now.Format(iso8601Basic), formatWindow(skew))
	}
	if s.presigned && s.expires > 0 {
		if early := now.Add(-s.expires); s.time.Before(early) {
			return errInvalidSignature("Signature expired: %s is now earlier than %s (%s - %s)",
				s.amzDate, early.Format(iso8601Basic), now.Format(iso8601Basic), formatWindow(s.expires))
		}
		return nil
	}
	if early := now.Add(-skew); s.time.Before(early) {
		return errInvalidSignature("Signature expired: %s is now earlier than %s (%s - %s)",
			s.amzDate, early.Format(iso8601Basic), now.Format(iso8601Basic), formatWindow(skew))
	}
	return nil
}

// formatWindow writes a time window as AWS does in its messages: "15 min.", or "90 sec." when
// it is not a whole number of minutes.
func formatWindow(d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.FormatInt(int64(d/time.Minute), 10) + " min."
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + " sec."
}

// signingKey returns the SigV4 signing key for secret and scope, derived once per day, region
// and service and then cached.
func (v *Verifier) signingKey(secret string, sc scope) [sha256.Size]byte {
	id := keyID{secret: secret, date: sc.date, region: sc.region, service: sc.service}
	v.mu.RLock()
	k, ok := v.keys[id]
	v.mu.RUnlock()
	if ok {
		return k
	}
	k = deriveKey(secret, sc.date, sc.region, sc.service)
	id = keyID{secret: strings.Clone(secret), date: strings.Clone(sc.date), region: strings.Clone(sc.region), service: strings.Clone(sc.service)}
	v.mu.Lock()
	if v.keys == nil || len(v.keys) >= maxCachedKeys {
		v.keys = make(map[keyID][sha256.Size]byte)
	}
	v.keys[id] = k
	v.mu.Unlock()
	return k
}

// deriveKey computes kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service),
// "aws4_request").
func deriveKey(secret, date, region, service string) [sha256.Size]byte {
	mac := func(key []byte, data string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(data))
		return h.Sum(nil)
	}
	k := mac([]byte("AWS4"+secret), date)
	k = mac(k, region)
	k = mac(k, service)
	k = mac(k, "aws4_request")
	return [sha256.Size]byte(k)
}

// sign computes the signature of r for the given path and payload hash.
func (v *Verifier) sign(r *http.Request, s *signing, key *[sha256.Size]byte, path string, payloadHash []byte) ([sha256.Size]byte, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := v.canonicalRequest((*bp)[:0], r, s, path, payloadHash)
	if buf == nil {
		return [sha256.Size]byte{}, errSignatureMismatch()
	}
	if !s.hasHost {
		*bp = buf
		return [sha256.Size]byte{}, errInvalidSignature("%s", msgHostUnsigned)
	}
	crHash := sha256.Sum256(buf)

	// HMAC-SHA256(key, stringToSign), written out so that it does not allocate:
	// H((K^opad) || H((K^ipad) || stringToSign)).
	var pad [sha256.BlockSize]byte
	copy(pad[:], key[:])
	for i := range pad {
		pad[i] ^= 0x36
	}
	buf = append(buf[:0], pad[:]...)
	buf = append(buf, algorithm...)
	buf = append(buf, '\n')
	buf = append(buf, s.amzDate...)
	buf = append(buf, '\n')
	sc := s.auth.scope
	buf = append(buf, sc.date...)
	buf = append(buf, '/')
	buf = append(buf, sc.region...)
	buf = append(buf, '/')
	buf = append(buf, sc.service...)
	buf = append(buf, "/aws4_request\n"...)
	buf = hex.AppendEncode(buf, crHash[:])
	inner := sha256.Sum256(buf)
	*bp = buf

	var outer [sha256.BlockSize + sha256.Size]byte
	for i := range pad {
		outer[i] = pad[i] ^ 0x36 ^ 0x5c
	}
	copy(outer[sha256.BlockSize:], inner[:])
	return sha256.Sum256(outer[:]), nil
}

// canonicalRequest appends SigV4's canonical request for r to dst. It returns nil when the
// SignedHeaders list is malformed.
func (v *Verifier) canonicalRequest(dst []byte, r *http.Request, s *signing, path string, payloadHash []byte) []byte {
	dst = append(dst, r.Method...)
	dst = append(dst, '\n')
	dst = appendCanonicalURI(dst, path)
	dst = append(dst, '\n')
	dst = appendCanonicalQuery(dst, r.URL.RawQuery, s.presigned)
	dst = append(dst, '\n')
	dst, hasHost, ok := appendCanonicalHeaders(dst, r, s.auth.signedHeaders)
	if !ok {
		return nil
	}
	s.hasHost = hasHost
	dst = append(dst, '\n')
	dst = append(dst, s.auth.signedHeaders...)
	dst = append(dst, '\n')
	dst = append(dst, payloadHash...)
	return dst
}
