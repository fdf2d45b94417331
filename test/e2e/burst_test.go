package e2e

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// TestAColdBurstOnAFreshServerHasNo5xx sends 200 invokes at once to a fresh server, each held
// long enough that none can reuse another's sandbox: 200 cold starts together, each taking a
// /tmp file system (and so a loop device) at the same moment. None may fail on the server's
// side; a 429 (placement refusing to overcommit the host's memory) is not a failure.
func TestAColdBurstOnAFreshServerHasNo5xx(t *testing.T) {
	const clients = 200
	s := newServer(t, t.TempDir())
	c := s.lambdaClient()
	name := deploy(t, c, functionSpec{fn: "sleep", timeout: 60})
	var wg sync.WaitGroup
	errs := make([]error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := c.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(`{"ms":1500}`)})
			if err == nil && out.FunctionError != nil {
				err = errors.New("function error: " + string(out.Payload))
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	failed := 0
	for i, err := range errs {
		if err == nil {
			continue
		}
		failed++
		var re *awshttp.ResponseError
		if errors.As(err, &re) && re.HTTPStatusCode() == 429 {
			t.Logf("invoke %d throttled: %v", i, err)
			continue
		}
		t.Errorf("invoke %d: %v", i, err)
	}
	t.Logf("%d of %d invokes failed", failed, clients)
}
