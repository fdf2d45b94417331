package control

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// nameModel and namespacedModel are the Lambda API model's patterns for a function name
// (FunctionName, of writes) and a namespaced one (NamespacedFunctionName, of reads), anchored.
var (
	nameModel       = regexp.MustCompile("^(?:" + functionNamePattern + ")$")
	namespacedModel = regexp.MustCompile("^(?:" + namespacedFunctionNamePattern + ")$")
)

// FuzzParseFunctionName checks ParseFunctionName against the API model and itself: it never
// panics; it fails only with ValidationException, InvalidParameterValue or AccessDenied; what it
// accepts the model's
// pattern accepts, and a name without colons it accepts exactly when the pattern does; and the
// name and qualifier it returns parse back to themselves written as a bare name, a partial ARN
// and a full ARN.
func FuzzParseFunctionName(f *testing.F) {
	for _, s := range []string{
		"fn", "my-function_1", "fn:$LATEST", "fn:prod", "fn:1",
		"000000000000:function:fn", "000000000000:function:fn:2", "123456789012:fn",
		"arn:aws:lambda:us-east-1:000000000000:function:fn", "arn:aws:lambda:us-east-1:000000000000:function:fn:$LATEST",
		"arn:aws-us-gov:lambda:us-gov-west-1:000000000000:function:fn", "arn:aws:lambda:eu-west-1:000000000000:function:fn",
		"arn:aws:lambda:us-east-1:111111111111:function:fn", "arn:aws:s3:::bucket", "fn:", ":fn", "fn::1", "fn:a:b",
		"", strings.Repeat("a", 64), strings.Repeat("a", 65), "fn.x", "fn/x", "fn:$latest", "ünïcode",
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	c := Config{Region: "us-east-1", AccountID: "000000000000"}
	f.Fuzz(func(t *testing.T, s string, namespaced bool) {
		maxLen, model, bare := MaxFunctionNameLen, nameModel, validBareName
		if namespaced {
			maxLen, model, bare = MaxNamespacedFunctionNameLen, namespacedModel, validNamespacedName
		}
		name, q, err := c.ParseFunctionName(s, maxLen)
		if err != nil {
			var le *lambdaerr.Error
			if !errors.As(err, &le) || le.Type != lambdaerr.Validation && le.Type != lambdaerr.InvalidParameterValue && le.Type != lambdaerr.AccessDenied {
				t.Fatalf("ParseFunctionName(%q) failed with %v (%T), want ValidationException, InvalidParameterValue or AccessDenied", s, err, err)
			}
		}
		if !strings.Contains(s, ":") && len(s) <= MaxBareNameLen && (err == nil) != model.MatchString(s) {
			t.Fatalf("ParseFunctionName(%q) = %v, but the model's pattern matching is %v", s, err, model.MatchString(s))
		}
		if err != nil {
			return
		}
		if !model.MatchString(s) {
			t.Fatalf("ParseFunctionName accepted %q, which the model's pattern refuses", s)
		}
		if !bare(name) || len(name) > MaxBareNameLen || q != "" && !validQualifier(q) {
			t.Fatalf("ParseFunctionName(%q) = %q, %q: not a bare name and a qualifier", s, name, q)
		}
		suffix := ""
		if q != "" {
			suffix = ":" + q
		}
		for _, form := range []string{name + suffix, c.AccountID + ":function:" + name + suffix, c.ARN(name) + suffix} {
			if len(form) > MaxNamespacedFunctionNameLen {
				continue
			}
			n2, q2, err := c.ParseFunctionName(form, MaxNamespacedFunctionNameLen)
			if err != nil || n2 != name || q2 != q {
				t.Fatalf("%q parsed as %q, %q, but %q parses as %q, %q, %v", s, name, q, form, n2, q2, err)
			}
		}
	})
}
