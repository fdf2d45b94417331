package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"

	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// codePath is where GetFunction's Code.Location points: a download of the function's package
// authorized by the URL's own signature (as Lambda's presigned S3 URLs), not by SigV4.
const codePath = "/ember/code/"

// codeURL is a signed download location for f's current package, valid for CodeURLExpiry; a
// published version's names the version (NAME:N), whose package never changes.
func (s *Server) codeURL(r *http.Request, f *control.Function) string {
	key := f.Name()
	if v := f.Config.Version; v != "" && v != control.LatestVersion {
		key += ":" + v
	}
	base := s.cfg.PublicURL
	if base == "" {
		scheme := "http://"
		if r.TLS != nil {
			scheme = "https://"
		}
		base = scheme + r.Host
	}
	expires := strconv.FormatInt(s.now().Add(CodeURLExpiry).Unix(), 10)
	q := url.Values{}
	q.Set("sha256", f.Code.Sha256)
	q.Set("expires", expires)
	q.Set("signature", s.codeSignature(key, f.Code.Sha256, expires))
	return base + codePath + url.PathEscape(key) + "?" + q.Encode()
}

func (s *Server) codeSignature(name, sha, expires string) string {
	m := hmac.New(sha256.New, s.cfg.CodeURLSecret)
	m.Write([]byte(name + "\n" + sha + "\n" + expires))
	return hex.EncodeToString(m.Sum(nil))
}

// getCode serves a package download whose URL GetFunction signed.
func (s *Server) getCode(w http.ResponseWriter, r *http.Request, _ []byte) error {
	name := r.PathValue("name")
	sha, err := s.checkCodeURL(r, name)
	if err != nil {
		return err
	}
	f, err := s.registry.Resolve(name, "")
	if err != nil {
		return err
	}
	if f.Code.Sha256 != sha {
		return lambdaerr.New(lambdaerr.ResourceNotFound, "The function's code has changed since this location was issued; call GetFunction again.")
	}
	return s.serveZip(w, r, f.Code)
}

// checkCodeURL checks a signed download URL for the resource named key: its signature and
// expiry. It returns the code hash the URL was issued for.
func (s *Server) checkCodeURL(r *http.Request, key string) (sha string, err error) {
	q := r.URL.Query()
	sha, expires, sig := q.Get("sha256"), q.Get("expires"), q.Get("signature")
	if !hmac.Equal([]byte(sig), []byte(s.codeSignature(key, sha, expires))) {
		return "", lambdaerr.New(lambdaerr.AccessDenied, "The request signature we calculated does not match the signature you provided.")
	}
	exp, err := strconv.ParseInt(expires, 10, 64)
	if err != nil || s.now().Unix() > exp {
		return "", lambdaerr.New(lambdaerr.AccessDenied, "Request has expired")
	}
	return sha, nil
}

// serveZip writes a stored package as the response.
func (s *Server) serveZip(w http.ResponseWriter, r *http.Request, c control.Code) error {
	if s.code == nil {
		return lambdaerr.New(lambdaerr.ServiceException, "Code downloads are not configured on this server.")
	}
	zip, err := s.code.Zip(r.Context(), c)
	if err != nil {
		return err
	}
	h := w.Header()
	h["Content-Type"] = []string{"application/zip"}
	h["Content-Length"] = []string{strconv.Itoa(len(zip))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(zip)
	return nil
}
