package auth

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Environment variables that set the root key; both must be set.
const (
	EnvRootAccessKeyID     = "EMBER_ROOT_ACCESS_KEY_ID"
	EnvRootSecretAccessKey = "EMBER_ROOT_SECRET_ACCESS_KEY"
)

// RootFileName is the name of the root-credentials file inside the data dir.
const RootFileName = "root-credentials.json"

// ErrInvalidCredentials is wrapped by the errors LoadOrCreateRoot and ReadRootFile return for a
// key that is malformed (empty, or with characters a SigV4 Credential cannot carry).
var ErrInvalidCredentials = errors.New("invalid credentials")

// Credentials is an access key: the ID clients send and the secret they sign with. Its JSON form
// is the one root-credentials.json holds, with AWS's field names.
type Credentials struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
}

// Validate reports whether c is a key a client can sign with: an access key ID of printable
// ASCII without spaces, '/', ',' or '=' (which would break the Authorization header's
// Credential), and a non-empty secret without surrounding whitespace.
func (c Credentials) Validate() error {
	if c.AccessKeyID == "" {
		return fmt.Errorf("access key id is empty: %w", ErrInvalidCredentials)
	}
	if len(c.AccessKeyID) > 128 {
		return fmt.Errorf("access key id is longer than 128 characters: %w", ErrInvalidCredentials)
	}
	for i := 0; i < len(c.AccessKeyID); i++ {
		b := c.AccessKeyID[i]
		if b <= ' ' || b >= 0x7f || b == '/' || b == ',' || b == '=' {
			return fmt.Errorf("access key id %q: character %q not allowed: %w", c.AccessKeyID, b, ErrInvalidCredentials)
		}
	}
	if c.SecretAccessKey == "" {
		return fmt.Errorf("secret access key is empty: %w", ErrInvalidCredentials)
	}
	if strings.TrimSpace(c.SecretAccessKey) != c.SecretAccessKey {
		return fmt.Errorf("secret access key has surrounding whitespace: %w", ErrInvalidCredentials)
	}
	return nil
}

// RootFilePath is where the root key is kept in dataDir.
func RootFilePath(dataDir string) string { return filepath.Join(dataDir, RootFileName) }

// LoadOrCreateRoot returns the root key. It comes from EMBER_ROOT_ACCESS_KEY_ID and
// EMBER_ROOT_SECRET_ACCESS_KEY when both are set (read through getenv; setting only one of
// them is an error); else from dataDir/root-credentials.json; else a new key is generated,
// written to that file with mode 0600, and created is true so that the caller prints it once.
// Two processes racing to create the file agree on one key. A server that may still fail to
// start uses LoadRoot, GenerateKey and StoreRoot instead, so that it writes a new key only
// once it is serving (and so prints it).
func LoadOrCreateRoot(dataDir string, getenv func(string) string) (cred Credentials, created bool, err error) {
	cred, found, err := LoadRoot(dataDir, getenv)
	if err != nil || found {
		return cred, false, err
	}
	cred, err = GenerateKey()
	if err != nil {
		return Credentials{}, false, err
	}
	return StoreRoot(dataDir, cred)
}

// LoadRoot returns the root key from EMBER_ROOT_ACCESS_KEY_ID and EMBER_ROOT_SECRET_ACCESS_KEY
// when both are set (read through getenv; setting only one of them is an error), else from
// dataDir/root-credentials.json. found is false when neither holds one.
func LoadRoot(dataDir string, getenv func(string) string) (cred Credentials, found bool, err error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	id, secret := getenv(EnvRootAccessKeyID), getenv(EnvRootSecretAccessKey)
	switch {
	case id != "" && secret != "":
		cred = Credentials{AccessKeyID: id, SecretAccessKey: secret}
		if err := cred.Validate(); err != nil {
			return Credentials{}, false, fmt.Errorf("root key from %s/%s: %w", EnvRootAccessKeyID, EnvRootSecretAccessKey, err)
		}
		return cred, true, nil
	case id != "":
		return Credentials{}, false, fmt.Errorf("%s is set but %s is not: %w", EnvRootAccessKeyID, EnvRootSecretAccessKey, ErrInvalidCredentials)
	case secret != "":
		return Credentials{}, false, fmt.Errorf("%s is set but %s is not: %w", EnvRootSecretAccessKey, EnvRootAccessKeyID, ErrInvalidCredentials)
	}
	cred, err = ReadRootFile(dataDir)
	if err == nil {
		return cred, true, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return Credentials{}, false, err
	}
	return Credentials{}, false, nil
}

// StoreRoot writes c, a generated root key, to dataDir/root-credentials.json with mode 0600,
// unless that file already exists: then it returns the file's key and stored is false. Two
// processes racing to store a key agree on one.
func StoreRoot(dataDir string, c Credentials) (cred Credentials, stored bool, err error) {
	won, err := writeRootFile(dataDir, c)
	if err != nil {
		return Credentials{}, false, err
	}
	if !won {
		// Another process created the file first: use its key.
		cred, err = ReadRootFile(dataDir)
		return cred, false, err
	}
	return c, true, nil
}

// ReadRootFile reads the root key from dataDir/root-credentials.json. A missing file is an error
// that wraps fs.ErrNotExist.
func ReadRootFile(dataDir string) (Credentials, error) {
	path := RootFilePath(dataDir)
	data, err := os.ReadFile(path)
	if err != nil {
		return Credentials{}, fmt.Errorf("root credentials: %w", err)
	}
	var c Credentials
	if err := json.Unmarshal(data, &c); err != nil {
		return Credentials{}, fmt.Errorf("root credentials %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return Credentials{}, fmt.Errorf("root credentials %s: %w", path, err)
	}
	return c, nil
}

// writeRootFile writes c to dataDir/root-credentials.json (mode 0600) without ever replacing an
// existing file: it writes a temporary file and hard-links it into place. won is false when the
// file already existed.
func writeRootFile(dataDir string, c Credentials) (won bool, err error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return false, fmt.Errorf("root credentials: %w", err)
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return false, fmt.Errorf("root credentials: %w", err)
	}
	data = append(data, '\n')
	tmp, err := os.CreateTemp(dataDir, ".root-credentials-*.tmp") // mode 0600
	if err != nil {
		return false, fmt.Errorf("root credentials: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return false, fmt.Errorf("root credentials: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return false, fmt.Errorf("root credentials: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, fmt.Errorf("root credentials: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("root credentials: %w", err)
	}
	if err := os.Link(tmp.Name(), RootFilePath(dataDir)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("root credentials: %w", err)
	}
	if d, err := os.Open(dataDir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return true, nil
}

// GenerateKey returns a new random key in AWS's shapes: a 20-character access key ID of "AKIA"
// and 16 uppercase base32 characters, and a 40-character base64 secret, both from crypto/rand.
func GenerateKey() (Credentials, error) {
	var id [10]byte // 80 bits: 16 base32 characters
	var secret [30]byte
	if _, err := rand.Read(id[:]); err != nil {
		return Credentials{}, fmt.Errorf("generate access key: %w", err)
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return Credentials{}, fmt.Errorf("generate access key: %w", err)
	}
	return Credentials{
		AccessKeyID:     "AKIA" + base32.StdEncoding.EncodeToString(id[:]),
		SecretAccessKey: base64.StdEncoding.EncodeToString(secret[:]),
	}, nil
}

// ConfigureHint returns the shell lines that point the AWS CLI and SDKs at this server with key
// c: `export AWS_...=` lines for the current shell, then `aws configure set` lines that save an
// "ember" profile. endpoint is the server's URL (e.g. http://127.0.0.1:9777) and region its
// region. Values are shell-quoted where needed.
func ConfigureHint(c Credentials, endpoint, region string) string {
	id, secret := shellQuote(c.AccessKeyID), shellQuote(c.SecretAccessKey)
	ep, rg := shellQuote(endpoint), shellQuote(region)
	var b strings.Builder
	b.WriteString("export AWS_ACCESS_KEY_ID=" + id + "\n")
	b.WriteString("export AWS_SECRET_ACCESS_KEY=" + secret + "\n")
	b.WriteString("export AWS_DEFAULT_REGION=" + rg + "\n")
	b.WriteString("export AWS_ENDPOINT_URL=" + ep + "\n")
	b.WriteString("aws configure set aws_access_key_id " + id + " --profile ember\n")
	b.WriteString("aws configure set aws_secret_access_key " + secret + " --profile ember\n")
	b.WriteString("aws configure set region " + rg + " --profile ember\n")
	b.WriteString("aws configure set endpoint_url " + ep + " --profile ember\n")
	b.WriteString("# AWS CLI releases before 2.13 ignore endpoint settings: pass --endpoint-url, e.g.\n")
	b.WriteString("aws --endpoint-url " + ep + " lambda list-functions\n")
	return b.String()
}

// shellQuote returns s as one POSIX shell word: unchanged when it holds only characters the
// shell does not interpret, else in single quotes.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for i := 0; i < len(s) && safe; i++ {
		b := s[i]
		safe = b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' ||
			strings.IndexByte("_-.,/:+=@%", b) >= 0
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
