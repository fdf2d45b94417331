package logs

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

func serve(t *testing.T, s *Store) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(Handler(s, nil))
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, url, target, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("response %q is not JSON: %v", raw, err)
	}
	return resp.StatusCode, resp.Header, out
}

func TestHandlerSpeaksJSON11(t *testing.T) {
	s := newTestStore(t)
	writeFixture(t, s, 2)
	srv := serve(t, s)

	tests := []struct {
		name, target, body string
		status             int
		errType            string
	}{
		{"an operation answers 200 in the JSON 1.1 content type", "Logs_20140328.DescribeLogGroups", `{}`, 200, ""},
		{"an empty body is an empty request", "Logs_20140328.DescribeLogGroups", ``, 200, ""},
		{"a missing group is ResourceNotFoundException with status 400", "Logs_20140328.FilterLogEvents", `{"logGroupName":"/none"}`, 400, "ResourceNotFoundException"},
		{"a bad parameter is InvalidParameterException", "Logs_20140328.DescribeLogGroups", `{"limit":0}`, 400, "InvalidParameterException"},
		{"malformed JSON is SerializationException", "Logs_20140328.DescribeLogGroups", `{"limit":`, 400, "SerializationException"},
		{"an unknown operation is UnknownOperationException", "Logs_20140328.PutRetentionPolicy", `{}`, 400, "UnknownOperationException"},
		{"a missing target is UnknownOperationException", "", `{}`, 400, "UnknownOperationException"},
		{"an existing group cannot be created again", "Logs_20140328.CreateLogGroup", `{"logGroupName":"/aws/lambda/a"}`, 400, "ResourceAlreadyExistsException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := post(t, srv.URL, tt.target, tt.body)
			if status != tt.status {
				t.Fatalf("status %d, want %d (body %v)", status, tt.status, body)
			}
			if ct := h.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
				t.Errorf("content type %q", ct)
			}
			if h.Get("x-amzn-RequestId") == "" {
				t.Error("no x-amzn-RequestId header")
			}
			if tt.errType == "" {
				return
			}
			if body["__type"] != tt.errType || body["message"] == nil || h.Get("x-amzn-ErrorType") != tt.errType {
				t.Fatalf("error body %v, header %q; want __type %q and a message", body, h.Get("x-amzn-ErrorType"), tt.errType)
			}
		})
	}

	t.Run("created and deleted groups answer an empty object", func(t *testing.T) {
		for _, target := range []string{"Logs_20140328.CreateLogGroup", "Logs_20140328.DeleteLogGroup"} {
			status, _, body := post(t, srv.URL, target, `{"logGroupName":"/made"}`)
			if status != 200 || len(body) != 0 {
				t.Fatalf("%s: status %d body %v", target, status, body)
			}
		}
	})
}

func sdkClient(url string) *cloudwatchlogs.Client {
	return cloudwatchlogs.New(cloudwatchlogs.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("x", "y", ""),
		BaseEndpoint: aws.String(url),
	})
}

func TestTheAWSSDKReadsLogsThroughTheHandler(t *testing.T) {
	s := newTestStore(t)
	f := writeFixture(t, s, 5)
	c := sdkClient(serve(t, s).URL)
	ctx := context.Background()
	const group, stream = "/aws/lambda/a", "2026/11/23/[$LATEST]one"

	t.Run("DescribeLogGroups", func(t *testing.T) {
		out, err := c.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/aws/lambda/")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.LogGroups) != 2 || aws.ToString(out.LogGroups[0].LogGroupName) != group || aws.ToInt64(out.LogGroups[0].CreationTime) == 0 ||
			out.LogGroups[0].LogGroupClass != types.LogGroupClassStandard {
			t.Fatalf("got %+v", out.LogGroups)
		}
	})

	t.Run("DescribeLogStreams", func(t *testing.T) {
		out, err := c.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{
			LogGroupName: aws.String(group), OrderBy: types.OrderByLastEventTime, Descending: aws.Bool(true), Limit: aws.Int32(1),
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.LogStreams) != 1 || aws.ToString(out.LogStreams[0].LogStreamName) != "2026/11/23/[$LATEST]two" || out.NextToken == nil ||
			aws.ToInt64(out.LogStreams[0].LastEventTimestamp) == 0 {
			t.Fatalf("got %+v", out)
		}
	})

	t.Run("GetLogEvents", func(t *testing.T) {
		out, err := c.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		want := f.of(group, stream)
		if len(out.Events) != len(want) || aws.ToString(out.NextForwardToken) == "" || aws.ToString(out.NextBackwardToken) == "" {
			t.Fatalf("got %d events, tokens %q %q", len(out.Events), aws.ToString(out.NextForwardToken), aws.ToString(out.NextBackwardToken))
		}
		for i, ev := range out.Events {
			if aws.ToString(ev.Message) != want[i].Message || aws.ToInt64(ev.Timestamp) != want[i].Time.UnixMilli() || aws.ToInt64(ev.IngestionTime) == 0 {
				t.Fatalf("event %d: %+v, want %+v", i, ev, want[i])
			}
		}
	})

	t.Run("FilterLogEvents pages with the SDK paginator", func(t *testing.T) {
		p := cloudwatchlogs.NewFilterLogEventsPaginator(c, &cloudwatchlogs.FilterLogEventsInput{
			LogGroupName: aws.String(group), FilterPattern: aws.String("ERROR"), Limit: aws.Int32(1),
		})
		var got []string
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range page.Events {
				if aws.ToString(ev.EventId) == "" || aws.ToString(ev.LogStreamName) == "" {
					t.Fatalf("event without id or stream: %+v", ev)
				}
				got = append(got, aws.ToString(ev.Message))
			}
		}
		var want []string
		for _, ev := range f.of(group, "") {
			if strings.Contains(ev.Message, "ERROR") {
				want = append(want, ev.Message)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	})

	t.Run("errors parse as the SDK's typed exceptions", func(t *testing.T) {
		_, err := c.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/none")})
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) || !strings.Contains(nf.ErrorMessage(), "log group does not exist") {
			t.Fatalf("got %v, want ResourceNotFoundException", err)
		}
		_, err = c.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)})
		var exists *types.ResourceAlreadyExistsException
		if !errors.As(err, &exists) {
			t.Fatalf("got %v, want ResourceAlreadyExistsException", err)
		}
	})
}
