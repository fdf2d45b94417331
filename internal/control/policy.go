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

// policyTarget parses the FunctionName and Qualifier of a policy operation. Only the
// unqualified function (or $LATEST) exists until versions are published.
func (r *Registry) policyTarget(nameOrARN, qualifier string) (string, error) {
	name, fromName, err := r.cfg.ParseFunctionName(nameOrARN, MaxFunctionNameLen)
	if err != nil {
		return "", err
	}
	q, err := ResolveQualifier(fromName, qualifier)
	if err != nil {
		return "", err
	}
	if q != "" && q != LatestVersion {
		return "", r.notFound(name, q)
	}
	return name, nil
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
	name, err := r.policyTarget(in.FunctionName, in.Qualifier)
	if err != nil {
		return "", err
	}
	st, err := r.newStatement(name, in)
	if err != nil {
		return "", err
	}
	_, err = r.update(ctx, name, func(f *Function) error {
		if in.RevisionId != "" && in.RevisionId != f.Config.RevisionId {
			return lambdaerr.New(lambdaerr.PreconditionFailed, "%s", msgRevisionMismatch)
		}
		if slices.ContainsFunc(f.Policy, func(s PolicyStatement) bool { return s.Sid == st.Sid }) {
			return lambdaerr.New(lambdaerr.ResourceConflict,
				"The statement id (%s) provided already exists. Please provide a new statement id, or remove the existing statement.", st.Sid)
		}
		policy := append(slices.Clone(f.Policy), *st)
		doc, err := PolicyJSON(policy)
		if err != nil {
			return err
		}
		if len(doc) > MaxPolicySize {
			return &lambdaerr.Error{Type: "PolicyLengthExceededException", Status: http.StatusBadRequest,
				Message: fmt.Sprintf("The final policy size (%d) is bigger than the limit (%d).", len(doc), MaxPolicySize)}
		}
		f.Policy = policy
		f.Config.RevisionId = newUUID()
		return nil
	})
	if err != nil {
		return "", err
	}
	data, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	r.logger.Info("permission added", "function", name, "sid", st.Sid)
	return string(data), nil
}

// RemovePermission removes the statement sid from the function's policy.
func (r *Registry) RemovePermission(ctx context.Context, nameOrARN, qualifier, sid, revisionID string) error {
	name, err := r.policyTarget(nameOrARN, qualifier)
	if err != nil {
		return err
	}
	_, err = r.update(ctx, name, func(f *Function) error {
		if revisionID != "" && revisionID != f.Config.RevisionId {
			return lambdaerr.New(lambdaerr.PreconditionFailed, "%s", msgRevisionMismatch)
		}
		i := slices.IndexFunc(f.Policy, func(s PolicyStatement) bool { return s.Sid == sid })
		if i < 0 {
			return lambdaerr.New(lambdaerr.ResourceNotFound, "Statement %s is not found in resource policy.", sid)
		}
		f.Policy = slices.Delete(slices.Clone(f.Policy), i, i+1)
		if len(f.Policy) == 0 {
			f.Policy = nil
		}
		f.Config.RevisionId = newUUID()
		return nil
	})
	if err != nil {
		return err
	}
	r.logger.Info("permission removed", "function", name, "sid", sid)
	return nil
}

// GetPolicy is the function's policy document and its RevisionId; a function without
// statements has no policy (ResourceNotFoundException, as on Lambda).
func (r *Registry) GetPolicy(nameOrARN, qualifier string) (policy, revisionID string, err error) {
	name, err := r.policyTarget(nameOrARN, qualifier)
	if err != nil {
		return "", "", err
	}
	f, ok := r.Lookup(name)
	if !ok {
		return "", "", r.notFound(name, "")
	}
	if len(f.Policy) == 0 {
		return "", "", lambdaerr.New(lambdaerr.ResourceNotFound, "The resource you requested does not exist.")
	}
	doc, err := PolicyJSON(f.Policy)
	if err != nil {
		return "", "", err
	}
	return doc, f.Config.RevisionId, nil
}

// nullError is the validation error for a required member that is missing.
func nullError(member string) error {
	return lambdaerr.InvalidParameter("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", member)
}
