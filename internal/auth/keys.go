package auth

// Keys looks up the secret access key of an access key ID.
type Keys interface {
	// SecretFor returns the secret of accessKeyID, or ok=false when the key is unknown.
	SecretFor(accessKeyID string) (secret string, ok bool)
}

// StaticKeys is a fixed set of keys: access key ID to secret access key.
type StaticKeys map[string]string

var _ Keys = StaticKeys(nil)

// SecretFor returns the secret of accessKeyID.
func (k StaticKeys) SecretFor(accessKeyID string) (string, bool) {
	s, ok := k[accessKeyID]
	return s, ok
}
