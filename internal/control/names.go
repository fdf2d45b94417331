package control

import (
	"strconv"
	"strings"

	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/limits"
)

// Name length limits from the Lambda API model: FunctionName (create, update, delete) and
// NamespacedFunctionName (get, invoke), and a bare name's own limit.
const (
	MaxFunctionNameLen           = 140
	MaxNamespacedFunctionNameLen = 170
	MaxBareNameLen               = 64
	MaxQualifierLen              = 128
)

// namespacedFunctionNamePattern is the model's pattern for the FunctionName of reads and
// invokes (NamespacedFunctionName): it admits dots, which no function's name has, so such a
// name is not found rather than refused.
const namespacedFunctionNamePattern = `(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?`

const functionNamePattern = `(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?`

// ARN is the function's ARN in this server's region and account.
func (c Config) ARN(name string) string {
	return "arn:aws:lambda:" + c.Region + ":" + c.AccountID + ":function:" + name
}

// ParseFunctionName splits a function name, partial ARN (ACCOUNT:function:NAME) or full ARN,
// each with an optional :QUALIFIER, into the bare name and the qualifier, checking it as Lambda
// does. maxLen is MaxFunctionNameLen or MaxNamespacedFunctionNameLen, by operation. It does not
// allocate unless it fails.
func (c Config) ParseFunctionName(s string, maxLen int) (name, qualifier string, err error) {
	if len(s) < 1 {
		return "", "", constraintError(s, "functionName", "Member must have length greater than or equal to 1")
	}
	if len(s) > maxLen {
		return "", "", constraintError(s, "functionName", "Member must have length less than or equal to "+strconv.Itoa(maxLen))
	}
	rest := s
	if strings.HasPrefix(s, "arn:") {
		var partition, service, region, account, kind string
		var ok bool
		rest = s[len("arn:"):]
		if partition, rest, ok = strings.Cut(rest, ":"); !ok || !validPartition(partition) {
			return "", "", namePatternError(s, maxLen)
		}
		if service, rest, ok = strings.Cut(rest, ":"); !ok || service != "lambda" {
			return "", "", namePatternError(s, maxLen)
		}
		if region, rest, ok = strings.Cut(rest, ":"); !ok || !validRegion(region) {
			return "", "", namePatternError(s, maxLen)
		}
		if account, rest, ok = strings.Cut(rest, ":"); !ok || !limits.ValidAccountID(account) {
			return "", "", namePatternError(s, maxLen)
		}
		if kind, rest, ok = strings.Cut(rest, ":"); !ok || kind != "function" {
			return "", "", namePatternError(s, maxLen)
		}
		if region != c.Region {
			return "", "", lambdaerr.InvalidParameter("Functions from '%s' are not reachable in this region ('%s')", region, c.Region)
		}
		if account != c.AccountID {
			return "", "", c.foreign(s)
		}
	} else if strings.Count(s, ":") >= 2 {
		account, r, _ := strings.Cut(s, ":")
		kind, r2, ok := strings.Cut(r, ":")
		if !limits.ValidAccountID(account) || !ok || kind != "function" {
			return "", "", namePatternError(s, maxLen)
		}
		if account != c.AccountID {
			return "", "", c.foreign("arn:aws:lambda:" + c.Region + ":" + s)
		}
		rest = r2
	}
	name, qualifier, hasQualifier := strings.Cut(rest, ":")
	if !validBareName(name) && !(maxLen == MaxNamespacedFunctionNameLen && validNamespacedName(name)) {
		return "", "", namePatternError(s, maxLen)
	}
	if len(name) > MaxBareNameLen {
		return "", "", lambdaConstraintError(name, "functionName", "Member must have length less than or equal to 64")
	}
	if hasQualifier && !validQualifier(qualifier) {
		return "", "", namePatternError(s, maxLen)
	}
	return name, qualifier, nil
}

// ForeignAccountError is the error for a function ARN in another account than the server's.
// AWS answers such a request as its caller being denied the operation on that resource, in words
// that name the operation's IAM action, which internal/api fills in (Message).
type ForeignAccountError struct {
	// Caller is this server's account; Resource the function's full ARN as the request gave it.
	Caller, Resource string
}

func (e *ForeignAccountError) Error() string {
	return "function " + e.Resource + " is in another account than " + e.Caller
}

// Message is AWS's message for the error, for an operation whose IAM action is action (e.g.
// "lambda:GetFunction").
func (e *ForeignAccountError) Message(action string) string {
	return "User: arn:aws:iam::" + e.Caller + ":root is not authorized to perform: " + action + " on resource: " + e.Resource +
		" because no resource-based policy allows the " + action + " action"
}

// Unwrap gives the AccessDeniedException the error is rendered as where no operation is known.
func (e *ForeignAccountError) Unwrap() error {
	return lambdaerr.New(lambdaerr.AccessDenied, "%s", e.Message("lambda:*"))
}

func (c Config) foreign(arn string) error {
	return &ForeignAccountError{Caller: c.AccountID, Resource: arn}
}

// ParseQualifiedName parses a FunctionName of at most maxLen characters (a name, or a partial or
// full ARN, qualified or not) together with the ?Qualifier= parameter given beside it: the
// function's name and the one qualifier the two say ("" for none).
func (c Config) ParseQualifiedName(nameOrARN, qualifier string, maxLen int) (name, q string, err error) {
	name, fromName, err := c.ParseFunctionName(nameOrARN, maxLen)
	if err != nil {
		return "", "", err
	}
	if q, err = ResolveQualifier(fromName, qualifier); err != nil {
		return "", "", err
	}
	return name, q, nil
}

// ResolveQualifier combines the qualifier from a function's name with the ?Qualifier= parameter
// as Lambda does: either may be given, and both must agree when both are.
func ResolveQualifier(fromName, fromQuery string) (string, error) {
	if fromQuery != "" && !validQualifier(fromQuery) {
		return "", constraintError(fromQuery, "qualifier", `Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)`)
	}
	switch {
	case fromName == "":
		return fromQuery, nil
	case fromQuery == "" || fromQuery == fromName:
		return fromName, nil
	default:
		return "", lambdaerr.InvalidParameter("The derived qualifier from the function name does not match the specified qualifier.")
	}
}

func namePatternError(s string, maxLen int) *lambdaerr.Error {
	pattern := functionNamePattern
	if maxLen == MaxNamespacedFunctionNameLen {
		pattern = namespacedFunctionNamePattern
	}
	return constraintError(s, "functionName", "Member must satisfy regular expression pattern: "+pattern)
}

// constraintError is AWS's answer to a request member that breaks the API model: a
// ValidationException. internal/apimodel checks the model's constraints on every request that
// reaches the API; these are the same checks for callers that come another way.
func constraintError(value, member, constraint string) *lambdaerr.Error {
	return lambdaerr.New(lambdaerr.Validation, "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s",
		value, member, constraint)
}

// lambdaConstraintError is the same message for a limit Lambda adds to the model's (a bare
// function name's 64 characters, a timeout's 900 seconds, tag lengths): Lambda checks it itself
// and answers InvalidParameterValueException, as AWS does.
func lambdaConstraintError(value, member, constraint string) *lambdaerr.Error {
	return lambdaerr.InvalidParameter("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s",
		value, member, constraint)
}

func validPartition(p string) bool {
	if !strings.HasPrefix(p, "aws") {
		return false
	}
	for i := 3; i < len(p); i++ {
		if !isLetter(p[i]) && p[i] != '-' {
			return false
		}
	}
	return true
}

// validRegion matches [a-z]{2}(-gov)?-[a-z]+-\d.
func validRegion(r string) bool {
	if len(r) < 6 || !isLower(r[0]) || !isLower(r[1]) || r[2] != '-' {
		return false
	}
	r = r[3:]
	r = strings.TrimPrefix(r, "gov-")
	i := 0
	for i < len(r) && isLower(r[i]) {
		i++
	}
	return i > 0 && len(r) == i+2 && r[i] == '-' && isDigit(r[i+1])
}

// validBareName matches [a-zA-Z0-9-_]+.
func validBareName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !isLetter(c) && !isDigit(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// validNamespacedName matches [a-zA-Z0-9-_\.]+.
func validNamespacedName(n string) bool {
	return n != "" && validBareName(strings.ReplaceAll(n, ".", "a"))
}

// validQualifier matches \$LATEST|[a-zA-Z0-9-_]+, at most 128 characters.
func validQualifier(q string) bool {
	if q == LatestVersion {
		return true
	}
	return len(q) <= MaxQualifierLen && validBareName(q)
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isLower(c byte) bool  { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
