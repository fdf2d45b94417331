package esm

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// BasicAuth is a broker's user name and password.
type BasicAuth struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// SecretARN is the ARN a BASIC_AUTH SourceAccessConfiguration names a secret by:
// arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME. There is no Secrets Manager here: the
// secret NAME is the file DIR/NAME (the server's data dir's secrets/), holding
// {"username":"...","password":"..."} as Amazon MQ's secrets do.
func SecretARN(region, account, name string) string {
	return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s", region, account, name)
}

// ReadBasicAuth resolves a BASIC_AUTH secret ARN from the secrets directory.
func ReadBasicAuth(dir, arn, region, account string) (BasicAuth, error) {
	prefix := fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:", region, account)
	name, ok := strings.CutPrefix(arn, prefix)
	if !ok || name == "" || strings.ContainsAny(name, "/\\") || name == "." || name == ".." {
		return BasicAuth{}, lambdaerr.InvalidParameter("The BASIC_AUTH URI %s is not a secret ARN of this server (%sNAME): "+
			"a secret NAME is the file secrets/NAME in the server's data dir, holding {\"username\":...,\"password\":...}.", arn, prefix)
	}
	if dir == "" {
		return BasicAuth{}, lambdaerr.InvalidParameter("This server has no secrets directory to resolve %s.", arn)
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return BasicAuth{}, lambdaerr.InvalidParameter("The secret %s could not be read: create %s holding {\"username\":...,\"password\":...}.",
			arn, filepath.Join(dir, name))
	}
	var a BasicAuth
	if err := json.Unmarshal(b, &a); err != nil || a.Username == "" {
		return BasicAuth{}, lambdaerr.InvalidParameter("The secret %s must be JSON with a username and a password.", arn)
	}
	return a, nil
}

// accessConfig is the URI of the mapping's SourceAccessConfiguration of type t, or "".
func (m *Mapping) accessConfig(t string) string {
	for _, c := range m.SourceAccessConfigurations {
		if c.Type == t {
			return c.URI
		}
	}
	return ""
}

// BasicAuthURI is the mapping's BASIC_AUTH URI, or "".
func (m *Mapping) BasicAuthURI() string { return m.accessConfig("BASIC_AUTH") }

// VirtualHost is the mapping's VIRTUAL_HOST, "/" when unset.
func (m *Mapping) VirtualHost() string {
	if v := m.accessConfig("VIRTUAL_HOST"); v != "" {
		return v
	}
	return "/"
}

func (s *Service) checkRabbitAccess(m *Mapping) error {
	for _, c := range m.SourceAccessConfigurations {
		switch c.Type {
		case "BASIC_AUTH", "VIRTUAL_HOST":
		default:
			return lambdaerr.InvalidParameter("SourceAccessConfigurations of type %s are not supported for RabbitMQ by this server; use BASIC_AUTH and VIRTUAL_HOST.", c.Type)
		}
	}
	uri := m.BasicAuthURI()
	if uri == "" {
		return lambdaerr.InvalidParameter("A RabbitMQ event source needs a BASIC_AUTH SourceAccessConfiguration whose URI is a secret ARN (%s).",
			SecretARN(s.cfg.ARNs.Region, s.cfg.ARNs.AccountID, "NAME"))
	}
	_, err := ReadBasicAuth(s.cfg.SecretsDir, uri, s.cfg.ARNs.Region, s.cfg.ARNs.AccountID)
	return err
}
