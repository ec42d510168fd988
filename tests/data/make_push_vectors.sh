#!/bin/sh
# Writes push_vectors.json: one signed push per platform, signed by openssl (not by cancelq's code).
#   sh tests/data/make_push_vectors.sh > tests/data/push_vectors.json
# Secrets are the test kits' (tests/kits/*.py); Lazada's seller and Shopee's shop are the kits' too.
set -eu
hexmac() { openssl dgst -sha256 -hmac "$1" -r | cut -d' ' -f1; }          # lowercase hex of HMAC-SHA256
b64mac() { openssl dgst -sha256 -hmac "$1" -binary | base64; }            # base64 of HMAC-SHA256

SHOPEE_KEY='shpk_test_partner_key_0123456789abcdef'
SHOPEE_URL='https://cancelq.example.com/pushes/shopee'
SHOPEE_BODY='{"msg_id":"8f1d2c0e9b7a4c3d","data":{"ordersn":"2411VEC0001","status":"CANCELLED","update_time":1764590400,"items":[],"completed_scenario":null},"shop_id":14701711,"code":3,"timestamp":1764590401}'
SHOPEE_SIG=$(printf '%s|%s' "$SHOPEE_URL" "$SHOPEE_BODY" | hexmac "$SHOPEE_KEY")

LAZADA_KEY='100132'
LAZADA_SECRET='lazada_test_app_secret_XYZ'
LAZADA_BODY='{"seller_id":"200001","message_type":0,"data":{"order_status":"canceled","trade_order_id":"70001","trade_order_line_id":"7000101","status_update_time":1764590400},"timestamp":1764590401000,"site":"lazada_sg"}'
LAZADA_SIG=$(printf '%s%s' "$LAZADA_KEY" "$LAZADA_BODY" | hexmac "$LAZADA_SECRET")

SHOPLINE_SECRET='kit_shopline_app_secret_0123456789abcdef'
SHOPLINE_BODY='{"id":"SL-VEC-1","status":"canceled","cancelled_at":"2026-12-01T12:00:00+00:00","updated_at":"2026-12-01T12:00:00+00:00"}'
SHOPLINE_SIG=$(printf '%s' "$SHOPLINE_BODY" | b64mac "$SHOPLINE_SECRET")

SHOPLAZZA_SECRET='kit_shoplazza_client_secret_0123456789abcdef'
SHOPLAZZA_BODY='{"id":"LZ-VEC-1","status":"cancelled","canceled_at":"2026-12-01T12:00:00+00:00","updated_at":"2026-12-01T12:00:00+00:00"}'
SHOPLAZZA_SIG=$(printf '%s' "$SHOPLAZZA_BODY" | b64mac "$SHOPLAZZA_SECRET")

jq -n \
  --arg shopee_body "$SHOPEE_BODY" --arg shopee_sig "$SHOPEE_SIG" --arg shopee_url "$SHOPEE_URL" \
  --arg lazada_body "$LAZADA_BODY" --arg lazada_sig "$LAZADA_SIG" \
  --arg shopline_body "$SHOPLINE_BODY" --arg shopline_sig "$SHOPLINE_SIG" \
  --arg shoplazza_body "$SHOPLAZZA_BODY" --arg shoplazza_sig "$SHOPLAZZA_SIG" '{
  "how": "sh tests/data/make_push_vectors.sh > tests/data/push_vectors.json (openssl dgst -sha256 -hmac KEY; -binary | base64 for Shopline and Shoplazza)",
  "shopee": {"callback_url": $shopee_url, "body": $shopee_body, "order_id": "2411VEC0001", "status": "CANCELLED",
             "message_id": "8f1d2c0e9b7a4c3d",
             "headers": {"Content-Type": "application/json", "Authorization": $shopee_sig},
             "signature_header": "Authorization", "signed": "callback_url + \"|\" + body, lowercase hex"},
  "lazada": {"body": $lazada_body, "order_id": "70001", "status": "canceled",
             "headers": {"Content-Type": "application/json", "Authorization": $lazada_sig},
             "signature_header": "Authorization", "signed": "app_key + body, lowercase hex"},
  "shopline": {"body": $shopline_body, "order_id": "SL-VEC-1", "status": "canceled", "message_id": "b54557e48a5fbf7d70bcd043",
               "headers": {"Content-Type": "application/json", "X-Shopline-Hmac-Sha256": $shopline_sig,
                           "X-Shopline-Topic": "orders/cancelled", "X-Shopline-Shop-Domain": "kit-store.myshopline.com",
                           "X-Shopline-Shop-Id": "1610418123456", "X-Shopline-API-Version": "v20251201",
                           "X-Shopline-Webhook-Id": "b54557e48a5fbf7d70bcd043"},
               "signature_header": "X-Shopline-Hmac-Sha256", "signed": "body, base64"},
  "shoplazza": {"body": $shoplazza_body, "order_id": "LZ-VEC-1", "status": "cancelled", "message_id": "6d0f8a4e-vec-1",
                "headers": {"Content-Type": "application/json", "X-Shoplazza-Hmac-Sha256": $shoplazza_sig,
                            "X-Shoplazza-Topic": "orders/cancelled", "X-Shoplazza-Shop-Domain": "kit-store.myshoplaza.com",
                            "X-Shoplazza-Api-Version": "2022-01", "X-Shoplazza-Deduplication-ID": "6d0f8a4e-vec-1"},
                "signature_header": "X-Shoplazza-Hmac-Sha256", "signed": "body, base64"}
}'
