package e2e

import (
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

func TestRequestsMustBeSignedWithAKnownKey(t *testing.T) {
	s := sharedServer(t)
	ctx := context.Background()
	tests := []struct {
		name          string
		keyID, secret string
		status        int
		code          string
	}{
		{"the right key with a wrong secret is 403 InvalidSignatureException", rootAccessKeyID, "not-the-secret", http.StatusForbidden, "InvalidSignatureException"},
		{"an unknown key is 403 UnrecognizedClientException", "AKIAUNKNOWNKEY000000", rootSecretKey, http.StatusForbidden, "UnrecognizedClientException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := s.lambdaClientAs(tt.keyID, tt.secret)
			_, err := c.ListFunctions(ctx, &lambda.ListFunctionsInput{})
			wantAPIError(t, err, tt.status, tt.code)
		})
	}
	t.Run("an unsigned request is refused", func(t *testing.T) {
		resp, err := http.Get(s.Endpoint + "/2015-03-31/functions/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("status = %d, want 403", resp.StatusCode)
		}
	})
	t.Run("the root key is accepted", func(t *testing.T) {
		if _, err := s.lambdaClient().ListFunctions(ctx, &lambda.ListFunctionsInput{}); err != nil {
			t.Fatalf("ListFunctions: %v", err)
		}
	})
}
