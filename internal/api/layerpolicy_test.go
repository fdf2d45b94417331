package api_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/ember-serverless/ember/internal/control/controltest"
)

func TestLayerVersionPermissionsKeepThePolicyAWSReturns(t *testing.T) {
	ctx := context.Background()
	c := layersClient(t)
	pub, err := c.PublishLayerVersion(ctx, &lambda.PublishLayerVersionInput{LayerName: aws.String("shared"),
		Content: &types.LayerVersionContentInput{ZipFile: controltest.Zip(t, map[string]string{"lib/x": "x"})}})
	if err != nil {
		t.Fatal(err)
	}
	code := func(err error) string {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return ae.ErrorCode()
		}
		return ""
	}
	_, err = c.GetLayerVersionPolicy(ctx, &lambda.GetLayerVersionPolicyInput{LayerName: aws.String("shared"), VersionNumber: aws.Int64(1)})
	if code(err) != "ResourceNotFoundException" {
		t.Fatalf("policy of a version without one: %v", err)
	}
	added, err := c.AddLayerVersionPermission(ctx, &lambda.AddLayerVersionPermissionInput{LayerName: aws.String("shared"),
		VersionNumber: aws.Int64(1), StatementId: aws.String("xaccount"), Action: aws.String("lambda:GetLayerVersion"),
		Principal: aws.String("223456789012")})
	if err != nil {
		t.Fatal(err)
	}
	wantX := `{"Sid":"xaccount","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::223456789012:root"},` +
		`"Action":"lambda:GetLayerVersion","Resource":"` + aws.ToString(pub.LayerVersionArn) + `"}`
	if aws.ToString(added.Statement) != wantX || aws.ToString(added.RevisionId) == "" {
		t.Fatalf("statement %s (revision %q), want %s", aws.ToString(added.Statement), aws.ToString(added.RevisionId), wantX)
	}
	refused := []struct {
		name string
		in   lambda.AddLayerVersionPermissionInput
		want string
	}{
		{"a statement id in use is a conflict", lambda.AddLayerVersionPermissionInput{StatementId: aws.String("xaccount"),
			Action: aws.String("lambda:GetLayerVersion"), Principal: aws.String("*")}, "ResourceConflictException"},
		{"a stale RevisionId fails its precondition", lambda.AddLayerVersionPermissionInput{StatementId: aws.String("org"),
			Action: aws.String("lambda:GetLayerVersion"), Principal: aws.String("*"), RevisionId: aws.String("stale")}, "PreconditionFailedException"},
		{"an action other than GetLayerVersion is invalid", lambda.AddLayerVersionPermissionInput{StatementId: aws.String("org"),
			Action: aws.String("lambda:InvokeFunction"), Principal: aws.String("*")}, "ValidationException"},
	}
	for _, c2 := range refused {
		t.Run(c2.name, func(t *testing.T) {
			c2.in.LayerName, c2.in.VersionNumber = aws.String("shared"), aws.Int64(1)
			if _, err := c.AddLayerVersionPermission(ctx, &c2.in); code(err) != c2.want {
				t.Errorf("got %v, want %s", err, c2.want)
			}
		})
	}
	if _, err := c.AddLayerVersionPermission(ctx, &lambda.AddLayerVersionPermissionInput{LayerName: aws.String("shared"),
		VersionNumber: aws.Int64(1), StatementId: aws.String("org"), Action: aws.String("lambda:GetLayerVersion"),
		Principal: aws.String("*"), OrganizationId: aws.String("o-abcdefghij"), RevisionId: added.RevisionId}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetLayerVersionPolicy(ctx, &lambda.GetLayerVersionPolicyInput{LayerName: pub.LayerArn, VersionNumber: aws.Int64(1)})
	wantOrg := `{"Sid":"org","Effect":"Allow","Principal":"*","Action":"lambda:GetLayerVersion","Resource":"` +
		aws.ToString(pub.LayerVersionArn) + `","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abcdefghij"}}}`
	want := `{"Version":"2012-10-17","Id":"default","Statement":[` + wantX + `,` + wantOrg + `]}`
	if err != nil || aws.ToString(got.Policy) != want {
		t.Fatalf("policy %s (%v)\nwant %s", aws.ToString(got.Policy), err, want)
	}
	if _, err := c.RemoveLayerVersionPermission(ctx, &lambda.RemoveLayerVersionPermissionInput{LayerName: aws.String("shared"),
		VersionNumber: aws.Int64(1), StatementId: aws.String("xaccount"), RevisionId: got.RevisionId}); err != nil {
		t.Fatal(err)
	}
	_, err = c.RemoveLayerVersionPermission(ctx, &lambda.RemoveLayerVersionPermissionInput{LayerName: aws.String("shared"),
		VersionNumber: aws.Int64(1), StatementId: aws.String("xaccount")})
	if code(err) != "ResourceNotFoundException" {
		t.Errorf("removing a removed statement: %v", err)
	}
	_, err = c.AddLayerVersionPermission(ctx, &lambda.AddLayerVersionPermissionInput{LayerName: aws.String("shared"),
		VersionNumber: aws.Int64(7), StatementId: aws.String("x"), Action: aws.String("lambda:GetLayerVersion"), Principal: aws.String("*")})
	if code(err) != "ResourceNotFoundException" {
		t.Errorf("a permission on a missing version: %v", err)
	}
}
