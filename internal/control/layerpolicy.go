package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

var (
	layerStatementIDPattern = regexp.MustCompile(`^([a-zA-Z0-9-_]+)$`)
	layerPrincipalPattern   = regexp.MustCompile(`^(\d{12}|\*|arn:(aws[a-zA-Z-]*):iam::\d{12}:root)$`)
	organizationIDPattern   = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
)

// AddLayerVersionPermissionInput is the body of AddLayerVersionPermission; the layer, its
// version and RevisionId come from the path and query.
type AddLayerVersionPermissionInput struct {
	LayerName      string `json:"-"`
	VersionNumber  int64  `json:"-"`
	RevisionId     string `json:"-"`
	StatementId    string `json:"StatementId"`
	Action         string `json:"Action"`
	Principal      string `json:"Principal"`
	OrganizationId string `json:"OrganizationId,omitempty"`
}

// newLayerStatement checks in as the model does and is the statement it grants on v.
func newLayerStatement(v *LayerVersion, in *AddLayerVersionPermissionInput) (*PolicyStatement, error) {
	switch {
	case in.StatementId == "":
		return nil, nullError("statementId")
	case len(in.StatementId) > 100:
		return nil, constraintError(in.StatementId, "statementId", "Member must have length less than or equal to 100")
	case !layerStatementIDPattern.MatchString(in.StatementId):
		return nil, constraintError(in.StatementId, "statementId", "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)")
	case in.Action == "":
		return nil, nullError("action")
	case in.Action != "lambda:GetLayerVersion":
		return nil, constraintError(in.Action, "action", "Member must satisfy regular expression pattern: lambda:GetLayerVersion")
	case in.Principal == "":
		return nil, nullError("principal")
	case !layerPrincipalPattern.MatchString(in.Principal):
		return nil, constraintError(in.Principal, "principal", `Member must satisfy regular expression pattern: \d{12}|\*|arn:(aws[a-zA-Z-]*):iam::\d{12}:root`)
	case in.OrganizationId != "" && !organizationIDPattern.MatchString(in.OrganizationId):
		return nil, constraintError(in.OrganizationId, "organizationId", "Member must satisfy regular expression pattern: o-[a-z0-9]{10,32}")
	}
	var principal any = "*"
	switch p := in.Principal; {
	case accountPattern.MatchString(p):
		principal = map[string]string{"AWS": "arn:aws:iam::" + p + ":root"}
	case p != "*":
		principal = map[string]string{"AWS": p}
	}
	pj, err := json.Marshal(principal)
	if err != nil {
		return nil, err
	}
	st := &PolicyStatement{Sid: in.StatementId, Effect: "Allow", Principal: pj, Action: in.Action, Resource: v.Arn()}
	if in.OrganizationId != "" {
		st.Condition = &PolicyCondition{StringEquals: map[string]string{"aws:PrincipalOrgID": in.OrganizationId}}
	}
	return st, nil
}

// updateVersion applies mutate to a copy of a layer version's record and stores it if the
// record has not changed since it was read, retrying on a concurrent change.
func (l *Layers) updateVersion(ctx context.Context, nameOrARN string, version int64, mutate func(*LayerVersion) error) (*LayerVersion, error) {
	name, err := l.cfg.ParseLayerName(nameOrARN)
	if err != nil {
		return nil, err
	}
	if err := validateLayerVersionNumber(version); err != nil {
		return nil, err
	}
	key := layerKey(name, version)
	for range maxCASAttempts {
		e, err := l.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, l.notFound()
		}
		if err != nil {
			return nil, fmt.Errorf("control: read layer %s: %w", key, err)
		}
		var v LayerVersion
		if err := json.Unmarshal(e.Value(), &v); err != nil {
			return nil, fmt.Errorf("control: layer %s: %w", key, err)
		}
		if err := mutate(&v); err != nil {
			return nil, err
		}
		data, err := json.Marshal(&v)
		if err != nil {
			return nil, err
		}
		rev, err := l.kv.Update(ctx, key, data, e.Revision())
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("control: store layer %s: %w", key, err)
		}
		l.apply(key, &v, rev)
		return &v, nil
	}
	return nil, lambdaerr.New(lambdaerr.ResourceConflict,
		"The operation cannot be performed at this time. An update is in progress for resource: %s", key)
}

// AddPermission adds a statement to a layer version's policy and returns it as
// AddLayerVersionPermission's Statement string, with the policy's new RevisionId. The policy
// is stored and returned, not enforced.
func (l *Layers) AddPermission(ctx context.Context, in *AddLayerVersionPermissionInput) (statement, revisionID string, err error) {
	var st *PolicyStatement
	v, err := l.updateVersion(ctx, in.LayerName, in.VersionNumber, func(v *LayerVersion) error {
		if in.RevisionId != "" && in.RevisionId != v.PolicyRevision {
			return lambdaerr.New(lambdaerr.PreconditionFailed, "%s", msgRevisionMismatch)
		}
		var err error
		if st, err = newLayerStatement(v, in); err != nil {
			return err
		}
		if slices.ContainsFunc(v.Policy, func(s PolicyStatement) bool { return s.Sid == st.Sid }) {
			return lambdaerr.New(lambdaerr.ResourceConflict,
				"The statement id (%s) provided already exists. Please provide a new statement id, or remove the existing statement.", st.Sid)
		}
		policy := append(slices.Clone(v.Policy), *st)
		doc, err := PolicyJSON(policy)
		if err != nil {
			return err
		}
		if len(doc) > MaxPolicySize {
			return &lambdaerr.Error{Type: "PolicyLengthExceededException", Status: http.StatusBadRequest,
				Message: fmt.Sprintf("The final policy size (%d) is bigger than the limit (%d).", len(doc), MaxPolicySize)}
		}
		v.Policy, v.PolicyRevision = policy, newUUID()
		return nil
	})
	if err != nil {
		return "", "", err
	}
	data, err := json.Marshal(st)
	if err != nil {
		return "", "", err
	}
	l.logger.Info("layer version permission added", "layer", v.Name, "version", v.Version, "sid", st.Sid)
	return string(data), v.PolicyRevision, nil
}

// RemovePermission removes statement sid from a layer version's policy.
func (l *Layers) RemovePermission(ctx context.Context, nameOrARN string, version int64, sid, revisionID string) error {
	v, err := l.updateVersion(ctx, nameOrARN, version, func(v *LayerVersion) error {
		if revisionID != "" && revisionID != v.PolicyRevision {
			return lambdaerr.New(lambdaerr.PreconditionFailed, "%s", msgRevisionMismatch)
		}
		i := slices.IndexFunc(v.Policy, func(s PolicyStatement) bool { return s.Sid == sid })
		if i < 0 {
			return lambdaerr.New(lambdaerr.ResourceNotFound, "Statement %s is not found in resource policy.", sid)
		}
		v.Policy = slices.Delete(slices.Clone(v.Policy), i, i+1)
		if len(v.Policy) == 0 {
			v.Policy = nil
		}
		v.PolicyRevision = newUUID()
		return nil
	})
	if err != nil {
		return err
	}
	l.logger.Info("layer version permission removed", "layer", v.Name, "version", v.Version, "sid", sid)
	return nil
}

// GetPolicy is a layer version's policy document and its RevisionId; a version without
// statements has none (ResourceNotFoundException, as on Lambda).
func (l *Layers) GetPolicy(nameOrARN string, version int64) (policy, revisionID string, err error) {
	v, err := l.Get(nameOrARN, version)
	if err != nil {
		return "", "", err
	}
	if len(v.Policy) == 0 {
		return "", "", lambdaerr.New(lambdaerr.ResourceNotFound, "No policy is associated with the given resource.")
	}
	doc, err := PolicyJSON(v.Policy)
	if err != nil {
		return "", "", err
	}
	return doc, v.PolicyRevision, nil
}
