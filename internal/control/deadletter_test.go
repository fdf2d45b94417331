package control_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/state/statetest"
)

func TestDeadLetterConfig(t *testing.T) {
	st := statetest.New(t)
	r := openRegistry(t, st)
	ctx := context.Background()
	const subject = "arn:aws:nats:us-east-1:000000000000:subject:dlq.orders"
	refused := []struct{ name, arn string }{
		{"an SQS queue is refused: there is no SQS here", "arn:aws:sqs:us-east-1:000000000000:dlq"},
		{"an SNS topic is refused", "arn:aws:sns:us-east-1:000000000000:dlq"},
		{"a function is refused: a dead-letter queue is a queue", "arn:aws:lambda:us-east-1:000000000000:function:g"},
		{"a subject in another account is refused", "arn:aws:nats:us-east-1:111111111111:subject:dlq"},
		{"what is not an ARN breaks the model's pattern", "dlq"},
	}
	for _, tc := range refused {
		t.Run("on create, "+tc.name, func(t *testing.T) {
			in := createInput(t, "refused")
			in.DeadLetterConfig = &control.DeadLetterConfig{TargetArn: tc.arn}
			if _, err := r.Create(ctx, in); errType(err) != lambdaerr.InvalidParameterValue && errType(err) != lambdaerr.Validation {
				t.Fatalf("got %v, want InvalidParameterValueException or (for the model's pattern) ValidationException", err)
			}
			if _, ok := r.Lookup("refused"); ok {
				t.Error("the function was created anyway")
			}
		})
	}
	t.Run("a NATS subject is stored and shown in the configuration", func(t *testing.T) {
		in := createInput(t, "fn")
		in.DeadLetterConfig = &control.DeadLetterConfig{TargetArn: subject}
		f, err := r.Create(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if f.Config.DeadLetterConfig == nil || f.Config.DeadLetterConfig.TargetArn != subject {
			t.Fatalf("DeadLetterConfig %+v", f.Config.DeadLetterConfig)
		}
		// Another registry reads it from the stored record.
		waitConfig(t, openRegistry(t, st), "fn", func(f *control.Function, found bool) error {
			if !found || f.Config.DeadLetterConfig == nil || f.Config.DeadLetterConfig.TargetArn != subject {
				return errors.New("the stored record has no DeadLetterConfig")
			}
			return nil
		})
	})
	t.Run("an update with an empty TargetArn removes it", func(t *testing.T) {
		waitConfig(t, r, "fn", isState(control.StateActive, ""))
		f, err := r.UpdateConfiguration(ctx, &control.UpdateFunctionConfigurationInput{FunctionName: "fn",
			DeadLetterConfig: &control.DeadLetterConfig{}})
		if err != nil {
			t.Fatal(err)
		}
		if f.Config.DeadLetterConfig != nil {
			t.Errorf("DeadLetterConfig %+v after removing it", f.Config.DeadLetterConfig)
		}
	})
	t.Run("an update with an SQS queue is refused", func(t *testing.T) {
		waitConfig(t, r, "fn", isUpdated)
		_, err := r.UpdateConfiguration(ctx, &control.UpdateFunctionConfigurationInput{FunctionName: "fn",
			DeadLetterConfig: &control.DeadLetterConfig{TargetArn: "arn:aws:sqs:us-east-1:000000000000:dlq"}})
		if errType(err) != lambdaerr.InvalidParameterValue {
			t.Fatalf("got %v", err)
		}
	})
}
