package e2e

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// contextEnv is the environment a "context" function reported.
func contextEnv(t *testing.T, out *lambda.InvokeOutput) map[string]string {
	t.Helper()
	var r struct{ Env map[string]string }
	if err := json.Unmarshal(out.Payload, &r); err != nil {
		t.Fatalf("context payload %s: %v", out.Payload, err)
	}
	return r.Env
}

// contextARN is the invoked function ARN the context test function was told.
func contextARN(t *testing.T, out *lambda.InvokeOutput) string {
	t.Helper()
	var r contextResult
	if err := json.Unmarshal(out.Payload, &r); err != nil {
		t.Fatalf("context payload %s: %v", out.Payload, err)
	}
	return r.FunctionARN
}

func TestTheSDKPublishesVersionsAndInvokesThemThroughAliases(t *testing.T) {
	ctx := context.Background()
	s := sharedServer(t)
	c := s.lambdaClient()
	name := deploy(t, c, functionSpec{fn: "context", env: map[string]string{"MARK": "one"}})
	arn := "arn:aws:lambda:" + region + ":" + accountID + ":function:" + name

	v1, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(name), Description: aws.String("first")})
	if err != nil || aws.ToString(v1.Version) != "1" || aws.ToString(v1.FunctionArn) != arn+":1" {
		t.Fatalf("PublishVersion: %+v, %v", v1, err)
	}
	if _, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name),
		Environment: &types.Environment{Variables: map[string]string{"MARK": "two"}}}); err != nil {
		t.Fatal(err)
	}
	waitReady(t, c, name)
	v2, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(name)})
	if err != nil || aws.ToString(v2.Version) != "2" {
		t.Fatalf("second PublishVersion: %+v, %v", v2, err)
	}
	again, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(name)})
	if err != nil || aws.ToString(again.Version) != "2" {
		t.Errorf("a publish with nothing changed gave %+v, %v; want version 2 again", again, err)
	}

	t.Run("each version runs its own configuration and reports itself", func(t *testing.T) {
		for _, c2 := range []struct{ name, fn, qualifier, version, mark, invoked string }{
			{"by version", name, "1", "1", "one", arn + ":1"},
			{"by qualified ARN", arn + ":2", "", "2", "two", arn + ":2"},
			{"by partial ARN and Qualifier", accountID + ":function:" + name, "1", "1", "one", arn + ":1"},
			{"$LATEST by name", name, "", "$LATEST", "two", arn},
		} {
			in := &lambda.InvokeInput{FunctionName: aws.String(c2.fn)}
			if c2.qualifier != "" {
				in.Qualifier = aws.String(c2.qualifier)
			}
			out := invoke(t, c, in)
			env := contextEnv(t, out)
			if aws.ToString(out.ExecutedVersion) != c2.version || env["AWS_LAMBDA_FUNCTION_VERSION"] != c2.version || env["MARK"] != c2.mark {
				t.Errorf("%s: executed %q, the function saw version %q and MARK %q; want %s and %s",
					c2.name, aws.ToString(out.ExecutedVersion), env["AWS_LAMBDA_FUNCTION_VERSION"], env["MARK"], c2.version, c2.mark)
			}
			if got := contextARN(t, out); got != c2.invoked {
				t.Errorf("%s: the function was told it was invoked as %s, want %s", c2.name, got, c2.invoked)
			}
		}
	})
	t.Run("a qualifier in the ARN and a different Qualifier conflict", func(t *testing.T) {
		_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(arn + ":1"), Qualifier: aws.String("2")})
		wantAPIError(t, err, http.StatusBadRequest, "InvalidParameterValueException")
		_, err = c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Qualifier: aws.String("9")})
		wantAPIError(t, err, http.StatusNotFound, "ResourceNotFoundException")
	})

	alias, err := c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String("live"),
		FunctionVersion: aws.String("1"),
		RoutingConfig:   &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.2}}})
	if err != nil || aws.ToString(alias.AliasArn) != arn+":live" {
		t.Fatalf("CreateAlias: %+v, %v", alias, err)
	}
	t.Run("an alias with a 0.2 weight sends a fifth of the invokes to its additional version", func(t *testing.T) {
		const n = 300
		counts := map[string]int{}
		for range n {
			out := invoke(t, c, &lambda.InvokeInput{FunctionName: aws.String(name), Qualifier: aws.String("live")})
			v := aws.ToString(out.ExecutedVersion)
			if v != "1" && v != "2" {
				t.Fatalf("X-Amz-Executed-Version %q", v)
			}
			if env := contextEnv(t, out); env["AWS_LAMBDA_FUNCTION_VERSION"] != v {
				t.Fatalf("executed version %s, but the function saw %s", v, env["AWS_LAMBDA_FUNCTION_VERSION"])
			}
			if got := contextARN(t, out); got != arn+":live" {
				t.Fatalf("the function was told it was invoked as %s, want the alias's ARN %s:live", got, arn)
			}
			counts[v]++
		}
		// A binomial 5-sigma bound: by chance it fails about once in 1.7 million runs.
		mean, sigma := n*0.2, math.Sqrt(n*0.2*0.8)
		if math.Abs(float64(counts["2"])-mean) > 5*sigma {
			t.Errorf("version 2 ran %d of %d invokes, want %.0f ± %.0f", counts["2"], n, mean, 5*sigma)
		}
	})
	t.Run("moving the alias takes effect on the next invoke", func(t *testing.T) {
		if _, err := c.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String(name), Name: aws.String("live"),
			FunctionVersion: aws.String("2"), RoutingConfig: &types.AliasRoutingConfiguration{},
			RevisionId: alias.RevisionId}); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			out := invoke(t, c, &lambda.InvokeInput{FunctionName: aws.String(arn + ":live")})
			if v := aws.ToString(out.ExecutedVersion); v != "2" {
				t.Fatalf("an invoke after the move ran version %s", v)
			}
		}
	})
	t.Run("a published version keeps its code after $LATEST's code changes", func(t *testing.T) {
		if _, err := c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(name),
			ZipFile: functionZips["echo"]}); err != nil {
			t.Fatal(err)
		}
		waitReady(t, c, name)
		if out := invokeJSON(t, c, name, `{"echo":true}`); string(out.Payload) != `{"echo":true}` {
			t.Errorf("$LATEST after the update answered %s", out.Payload)
		}
		out := invoke(t, c, &lambda.InvokeInput{FunctionName: aws.String(name), Qualifier: aws.String("1"), Payload: []byte(`{"echo":true}`)})
		if env := contextEnv(t, out); env["MARK"] != "one" || aws.ToString(out.ExecutedVersion) != "1" {
			t.Errorf("version 1 after $LATEST's update answered %s", out.Payload)
		}
	})
	t.Run("versions list with $LATEST first and a routed-to version cannot be deleted", func(t *testing.T) {
		var got []string
		p := lambda.NewListVersionsByFunctionPaginator(c, &lambda.ListVersionsByFunctionInput{FunctionName: aws.String(name), MaxItems: aws.Int32(1)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range page.Versions {
				got = append(got, aws.ToString(v.Version))
			}
		}
		if strings.Join(got, ",") != "$LATEST,1,2" {
			t.Errorf("versions %v", got)
		}
		_, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String("2")})
		wantAPIError(t, err, http.StatusConflict, "ResourceConflictException")
		if _, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String("1")}); err != nil {
			t.Fatal(err)
		}
		_, err = c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(arn + ":1")})
		wantAPIError(t, err, http.StatusNotFound, "ResourceNotFoundException")
	})
	t.Run("a deleted alias's event invoke config goes with it", func(t *testing.T) {
		tmp := &lambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String("tmp"), FunctionVersion: aws.String("2")}
		if _, err := c.CreateAlias(ctx, tmp); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutFunctionEventInvokeConfig(ctx, &lambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String(name),
			Qualifier: aws.String("tmp"), MaximumRetryAttempts: aws.Int32(0)}); err != nil {
			t.Fatal(err)
		}
		cfg, err := c.GetFunctionEventInvokeConfig(ctx, &lambda.GetFunctionEventInvokeConfigInput{FunctionName: aws.String(arn + ":tmp")})
		if err != nil || aws.ToString(cfg.FunctionArn) != arn+":tmp" {
			t.Fatalf("the alias's config: %+v, %v", cfg, err)
		}
		if _, err := c.DeleteAlias(ctx, &lambda.DeleteAliasInput{FunctionName: aws.String(name), Name: aws.String("tmp")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateAlias(ctx, tmp); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, stateTimeout, func() (bool, string) {
			_, err := c.GetFunctionEventInvokeConfig(ctx, &lambda.GetFunctionEventInvokeConfigInput{FunctionName: aws.String(name), Qualifier: aws.String("tmp")})
			return err != nil && strings.Contains(err.Error(), "ResourceNotFoundException"), "the old alias's config gone"
		})
	})
	if _, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(name), Name: aws.String("live")})
	wantAPIError(t, err, http.StatusNotFound, "ResourceNotFoundException")
}

func TestTheAWSCLIPublishesVersionsAndManagesAliases(t *testing.T) {
	needAWSCLI(t)
	s := sharedServer(t)
	zipPath := filepath.Join(t.TempDir(), "echo.zip")
	if err := os.WriteFile(zipPath, functionZips["echo"], 0o644); err != nil {
		t.Fatal(err)
	}
	name := uniqueName("versions-cli")
	var created struct{ Version string }
	decodeCLI(t, s.aws(t, "lambda", "create-function", "--function-name", name, "--runtime", "provided.al2023",
		"--handler", "bootstrap", "--role", "arn:aws:iam::"+accountID+":role/e2e", "--zip-file", "fileb://"+zipPath,
		"--publish"), &created)
	if created.Version != "1" {
		t.Errorf("create-function --publish answered version %q", created.Version)
	}
	waitReady(t, s.lambdaClient(), name)
	var published struct{ Version, Description string }
	decodeCLI(t, s.aws(t, "lambda", "publish-version", "--function-name", name, "--description", "same"), &published)
	if published.Version != "1" {
		t.Errorf("publish-version with nothing changed gave version %q", published.Version)
	}
	r := s.aws(t, "lambda", "update-function-code", "--function-name", name, "--zip-file", "fileb://"+zipPath, "--publish")
	if r.code != 0 {
		t.Fatalf("update-function-code --publish: %s", r.stderr)
	}
	waitReady(t, s.lambdaClient(), name)

	var versions struct{ Versions []struct{ Version string } }
	waitUntil(t, stateTimeout, func() (bool, string) {
		decodeCLI(t, s.aws(t, "lambda", "list-versions-by-function", "--function-name", name), &versions)
		return len(versions.Versions) == 3, "version 2 published"
	})
	if versions.Versions[0].Version != "$LATEST" || versions.Versions[2].Version != "2" {
		t.Errorf("list-versions-by-function %+v", versions.Versions)
	}

	var alias struct {
		AliasArn, FunctionVersion, RevisionId string
		RoutingConfig                         struct{ AdditionalVersionWeights map[string]float64 }
	}
	decodeCLI(t, s.aws(t, "lambda", "create-alias", "--function-name", name, "--name", "live", "--function-version", "1",
		"--routing-config", `{"AdditionalVersionWeights":{"2":0.5}}`), &alias)
	if alias.RoutingConfig.AdditionalVersionWeights["2"] != 0.5 || !strings.HasSuffix(alias.AliasArn, ":"+name+":live") {
		t.Errorf("create-alias %+v", alias)
	}
	decodeCLI(t, s.aws(t, "lambda", "update-alias", "--function-name", name, "--name", "live", "--function-version", "2",
		"--routing-config", `{"AdditionalVersionWeights":{}}`, "--revision-id", alias.RevisionId), &alias)
	alias.RoutingConfig.AdditionalVersionWeights = nil // decoding merges into a map
	decodeCLI(t, s.aws(t, "lambda", "get-alias", "--function-name", name, "--name", "live"), &alias)
	if alias.FunctionVersion != "2" || len(alias.RoutingConfig.AdditionalVersionWeights) != 0 {
		t.Errorf("get-alias after update-alias %+v", alias)
	}
	out := filepath.Join(t.TempDir(), "out.json")
	var inv struct{ ExecutedVersion string }
	decodeCLI(t, s.aws(t, "lambda", "invoke", "--function-name", name, "--qualifier", "live",
		"--cli-binary-format", "raw-in-base64-out", "--payload", `{"a":1}`, out), &inv)
	if body, _ := os.ReadFile(out); inv.ExecutedVersion != "2" || string(body) != `{"a":1}` {
		t.Errorf("invoke --qualifier live: executed %q, answered %s", inv.ExecutedVersion, body)
	}
	var aliases struct{ Aliases []struct{ Name string } }
	decodeCLI(t, s.aws(t, "lambda", "list-aliases", "--function-name", name, "--function-version", "2"), &aliases)
	if len(aliases.Aliases) != 1 || aliases.Aliases[0].Name != "live" {
		t.Errorf("list-aliases %+v", aliases)
	}
	r = s.aws(t, "lambda", "delete-function", "--function-name", name, "--qualifier", "2")
	if r.code == 0 || !strings.Contains(r.stderr, "ResourceConflictException") {
		t.Errorf("deleting a version an alias points at: %d %s", r.code, r.stderr)
	}
	for _, args := range [][]string{
		{"delete-alias", "--function-name", name, "--name", "live"},
		{"delete-function", "--function-name", name, "--qualifier", "2"},
		{"delete-function", "--function-name", name},
	} {
		if r := s.aws(t, append([]string{"lambda"}, args...)...); r.code != 0 {
			t.Fatalf("%s: %s", args[0], r.stderr)
		}
	}
}
