package control

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// MaxPolicySize is Lambda's limit on a function's resource-based policy, in bytes.
const MaxPolicySize = 20480

var (
	statementIDPattern = regexp.MustCompile(`^([a-zA-Z0-9-_.]+)$`)
	actionPattern      = regexp.MustCompile(`^(lambda:[*]|lambda:[a-zA-Z]+|[*])$`)
	accountPattern     = regexp.MustCompile(`^\d{12}$`)
)

// AddPermissionInput is the body of AddPermission (FunctionName and Qualifier come from the
// path and query).
type AddPermissionInput struct {
	FunctionName        string `json:"-"`
	Qualifier           string `json:"-"`
	StatementId         string `json:"StatementId"`
	Action              string `json:"Action"`
	Principal           string `json:"Principal"`
	SourceArn           string `json:"SourceArn,omitempty"`
	SourceAccount       string `json:"SourceAccount,omitempty"`
	EventSourceToken    string `json:"EventSourceToken,omitempty"`
	RevisionId          string `json:"RevisionId,omitempty"`
	PrincipalOrgID      string `json:"PrincipalOrgID,omitempty"`
	FunctionUrlAuthType string `json:"FunctionUrlAuthType,omitempty"`
}

// PolicyStatement is one statement of a resource-based policy, as Lambda renders it.
type PolicyStatement struct {
	Sid       string           `json:"Sid"`
	Effect    string           `json:"Effect"`
	Principal json.RawMessage  `json:"Principal"`
	Action    string           `json:"Action"`
	Resource  string           `json:"Resource"`
	Condition *PolicyCondition `json:"Condition,omitempty"`
}

// PolicyCondition is a statement's Condition: the operators Lambda writes for AddPermission's
// SourceArn (ArnLike) and SourceAccount, PrincipalOrgID, EventSourceToken and
// FunctionUrlAuthType (StringEquals).
type PolicyCondition struct {
	StringEquals map[string]string `json:"StringEquals,omitempty"`
	ArnLike      map[string]string `json:"ArnLike,omitempty"`
}

// policyDocument is a resource-based policy as GetPolicy returns it (as a JSON string).
type policyDocument struct {
	Version   string            `json:"Version"`
	Id        string            `json:"Id"`
	Statement []PolicyStatement `json:"Statement"`
}

// PolicyJSON is the policy document of statements, as GetPolicy's Policy string.
func PolicyJSON(statements []PolicyStatement) (string, error) {
	data, err := json.Marshal(policyDocument{Version: "2012-10-17", Id: "default", Statement: statements})
	return string(data), err
}

// policyTarget parses the FunctionName and Qualifier of a policy operation: the function, and
// its version or alias ("" for the unqualified function or $LATEST), which must exist.
func (r *Registry) policyTarget(nameOrARN, qualifier string) (name, q string, err error) {
	if name, q, err = r.cfg.ParseQualifiedName(nameOrARN, qualifier, MaxFunctionNameLen); err != nil {
		return "", "", err
	}
	if q == LatestVersion {
		q = ""
	}
	if _, err := r.Target(name, q); err != nil {
		return "", "", err
	}
	return name, q, nil
}

// editPolicy applies edit to the policy of function name's version or alias q ("": the
// function's own), checking revisionID against the one GetPolicy reports for it. A function's
// and an alias's RevisionId change with their policy; a published version's stays, as the
// version it names is unchanged.
func (r *Registry) editPolicy(ctx context.Context, name, q, revisionID string, edit func([]PolicyStatement) ([]PolicyStatement, error)) error {
	check := func(cur string) error {
		if revisionID != "" && revisionID != cur {
			return lambdaerr.New(lambdaerr.PreconditionFailed, "%s", msgRevisionMismatch)
		}
		return nil
	}
	var err error
	switch {
	case q == "":
		_, err = r.update(ctx, name, func(f *Function) error {
			if err := check(f.Config.RevisionId); err != nil {
				return err
			}
			p, err := edit(f.Policy)
			f.Policy, f.Config.RevisionId = p, newUUID()
			return err
		})
	case isVersionNumber(q):
		_, err = r.updateVersionRecord(ctx, name, q, func(f *Function) error {
			if err := check(f.Config.RevisionId); err != nil {
				return err
			}
			p, err := edit(f.Policy)
			f.Policy = p
			return err
		})
	default:
		_, err = r.updateAliasRecord(ctx, name, q, func(a *Alias) error {
			if err := check(a.Config.RevisionId); err != nil {
				return err
			}
			p, err := edit(a.Policy)
			a.Policy, a.Config.RevisionId = p, newUUID()
			return err
		})
	}
	return err
}

// newStatement checks in as Lambda does and is the statement it adds for function name.
func (r *Registry) newStatement(name string, in *AddPermissionInput) (*PolicyStatement, error) {
	switch {
	case in.StatementId == "":
		return nil, nullError("statementId")
	case len(in.StatementId) > 100:
		return nil, constraintError(in.StatementId, "statementId", "Member must have length less than or equal to 100")
	case !statementIDPattern.MatchString(in.StatementId):
		return nil, constraintError(in.StatementId, "statementId", "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_.]+)")
	case in.Action == "":
		return nil, nullError("action")
	case !actionPattern.MatchString(in.Action):
		return nil, constraintError(in.Action, "action", "Member must satisfy regular expression pattern: (lambda:[*]|lambda:[a-zA-Z]+|[*])")
	case in.Principal == "":
		return nil, nullError("principal")
	case in.SourceAccount != "" && !accountPattern.MatchString(in.SourceAccount):
		return nil, constraintError(in.SourceAccount, "sourceAccount", "Member must satisfy regular expression pattern: ^\\d{12}$")
	case in.FunctionUrlAuthType != "" && in.FunctionUrlAuthType != "NONE" && in.FunctionUrlAuthType != "AWS_IAM":
		return nil, constraintError(in.FunctionUrlAuthType, "functionUrlAuthType", "Member must satisfy enum value set: [AWS_IAM, NONE]")
	}
	var principal any
	switch p := in.Principal; {
	case p == "*":
		principal = "*"
	case accountPattern.MatchString(p):
		principal = map[string]string{"AWS": "arn:aws:iam::" + p + ":root"}
	case len(p) > 4 && p[:4] == "arn:":
		principal = map[string]string{"AWS": p}
	default:
		principal = map[string]string{"Service": p}
	}
	pj, err := json.Marshal(principal)
	if err != nil {
		return nil, err
	}
	st := &PolicyStatement{Sid: in.StatementId, Effect: "Allow", Principal: pj, Action: in.Action, Resource: r.cfg.ARN(name)}
	cond := PolicyCondition{}
	equals := func(k, v string) {
		if v == "" {
			return
		}
		if cond.StringEquals == nil {
			cond.StringEquals = map[string]string{}
		}
		cond.StringEquals[k] = v
	}
	equals("AWS:SourceAccount", in.SourceAccount)
	equals("aws:PrincipalOrgID", in.PrincipalOrgID)
	equals("lambda:EventSourceToken", in.EventSourceToken)
	equals("lambda:FunctionUrlAuthType", in.FunctionUrlAuthType)
	if in.SourceArn != "" {
		cond.ArnLike = map[string]string{"AWS:SourceArn": in.SourceArn}
	}
	if cond.StringEquals != nil || cond.ArnLike != nil {
		st.Condition = &cond
	}
	return st, nil
}

// AddPermission adds a statement to the function's resource-based policy and returns it as
// AddPermission's Statement string. The policy is stored and returned, not enforced: every
// authenticated caller may invoke until multi-user access keys arrive.
func (r *Registry) AddPermission(ctx context.Context, in *AddPermissionInput) (string, error) {
	name, q, err := r.policyTarget(in.FunctionName, in.Qualifier)
	if err != nil {
		return "", err
	}
	st, err := r.newStatement(name, in)
	if err != nil {
		return "", err
	}
	if q != "" {
		st.Resource += ":" + q
	}
	err = r.editPolicy(ctx, name, q, in.RevisionId, func(cur []PolicyStatement) ([]PolicyStatement, error) {
		if slices.ContainsFunc(cur, func(s PolicyStatement) bool { return s.Sid == st.Sid }) {
			return nil, lambdaerr.New(lambdaerr.ResourceConflict,
				"The statement id (%s) provided already exists. Please provide a new statement id, or remove the existing statement.", st.Sid)
		}
		policy := append(slices.Clone(cur), *st)
		doc, err := PolicyJSON(policy)
		if err != nil {
			return nil, err
		}
		if len(doc) > MaxPolicySize {
			return nil, &lambdaerr.Error{Type: "PolicyLengthExceededException", Status: http.StatusBadRequest,
				Message: fmt.Sprintf("The final policy size (%d) is bigger than the limit (%d).", len(doc), MaxPolicySize)}
		}
		return policy, nil
	})
	if err != nil {
		return "", err
	}
	data, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	r.logger.Info("permission added", "function", name, "qualifier", q, "sid", st.Sid)
	return string(data), nil
}

// RemovePermission removes the statement sid from the function's policy.
func (r *Registry) RemovePermission(ctx context.Context, nameOrARN, qualifier, sid, revisionID string) error {
	name, q, err := r.policyTarget(nameOrARN, qualifier)
	if err != nil {
		return err
	}
	err = r.editPolicy(ctx, name, q, revisionID, func(cur []PolicyStatement) ([]PolicyStatement, error) {
		i := slices.IndexFunc(cur, func(s PolicyStatement) bool { return s.Sid == sid })
		if i < 0 {
			return nil, lambdaerr.New(lambdaerr.ResourceNotFound, "Statement %s is not found in resource policy.", sid)
		}
		policy := slices.Delete(slices.Clone(cur), i, i+1)
		if len(policy) == 0 {
			policy = nil
		}
		return policy, nil
	})
	if err != nil {
		return err
	}
	r.logger.Info("permission removed", "function", name, "qualifier", q, "sid", sid)
	return nil
}

// GetPolicy is the function's policy document and its RevisionId; a function without
// statements has no policy (ResourceNotFoundException, as on Lambda).
func (r *Registry) GetPolicy(nameOrARN, qualifier string) (policy, revisionID string, err error) {
	name, q, err := r.policyTarget(nameOrARN, qualifier)
	if err != nil {
		return "", "", err
	}
	var statements []PolicyStatement
	switch f, _ := r.Lookup(name); {
	case q == "":
		statements, revisionID = f.Policy, f.Config.RevisionId
	case isVersionNumber(q):
		v, ok := r.Version(name, q)
		if !ok {
			return "", "", r.notFound(name, q)
		}
		statements, revisionID = v.Policy, v.Config.RevisionId
	default:
		a, ok := r.Alias(name, q)
		if !ok {
			return "", "", r.notFound(name, q)
		}
		statements, revisionID = a.Policy, a.Config.RevisionId
	}
	if len(statements) == 0 {
		return "", "", lambdaerr.New(lambdaerr.ResourceNotFound, "The resource you requested does not exist.")
	}
	doc, err := PolicyJSON(statements)
	if err != nil {
		return "", "", err
	}
	return doc, revisionID, nil
}

// nullError is the validation error for a required member that is missing.
func nullError(member string) error {
	return lambdaerr.InvalidParameter("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", member)
}
