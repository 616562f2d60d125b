#!/usr/bin/env bash
# Build, launch and schedule partbank on Dataflow. Settings: deploy/config.env.
#
#   bash deploy/deploy.sh image      build the worker/launcher image and push it
#   bash deploy/deploy.sh template   build the features and ontology Flex Templates
#   bash deploy/deploy.sh run        launch the features template once (the first run)
#   bash deploy/deploy.sh schedule   create the Cloud Scheduler job that launches it nightly
#   bash deploy/deploy.sh body       print the launch request the schedule sends
set -euo pipefail
cd "$(dirname "$0")/.."
set -a
# shellcheck source=deploy/config.env
. deploy/config.env
set +a

body() {  # deploy/launch-body.json with config.env's values filled in
    python3 -c 'import os, sys; sys.stdout.write(os.path.expandvars(open(sys.argv[1]).read()))' \
        deploy/launch-body.json
}

case "${1:-}" in
image)
    docker build -f deploy/Dockerfile -t "$IMAGE" .
    docker push "$IMAGE"
    ;;
template)
    for pipeline in features ontology; do
        gcloud dataflow flex-template build "$TEMPLATES/partbank-$pipeline.json" \
            --project "$PROJECT" --image "$IMAGE" --sdk-language PYTHON \
            --metadata-file "deploy/$pipeline/metadata.json" \
            --env "PARTBANK_PIPELINE=$pipeline"
    done
    ;;
run)
    gcloud dataflow flex-template run "partbank-features-$(date -u +%Y%m%d-%H%M%S)" \
        --project "$PROJECT" --region "$REGION" \
        --template-file-gcs-location "$TEMPLATES/partbank-features.json" \
        --temp-location "gs://$BUCKET/tmp" \
        --parameters "^~^source=$SOURCE~input=$INPUT~output=$OUTPUT~ontology=$ONTOLOGY~featurizers=$FEATURIZERS~model-accelerator=$MODEL_ACCELERATOR~model-min-ram=$MODEL_MIN_RAM~model-batch-size=$MODEL_BATCH_SIZE~sdk_container_image=$IMAGE"
    ;;
schedule)
    launch=$(mktemp)
    body >"$launch"
    gcloud scheduler jobs create http partbank-features-nightly \
        --project "$PROJECT" --location "$REGION" \
        --schedule "$SCHEDULE" --time-zone "$TIME_ZONE" \
        --uri "https://dataflow.googleapis.com/v1b3/projects/$PROJECT/locations/$REGION/flexTemplates:launch" \
        --http-method POST --headers "Content-Type=application/json" \
        --message-body-from-file "$launch" \
        --oauth-service-account-email "$SCHEDULER_ACCOUNT" \
        --oauth-token-scope "https://www.googleapis.com/auth/cloud-platform"
    rm -f "$launch"
    ;;
body)
    body
    ;;
*)
    sed -n '2,9p' deploy/deploy.sh >&2
    exit 2
    ;;
esac
