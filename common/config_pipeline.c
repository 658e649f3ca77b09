/* SPDX-License-Identifier: ISC */
/*
 * config_pipeline.c - an endpoint's `pipeline` key (DESIGN.md Part 2,
 * "Named steps and pipelines"): the step names it lists, in order, kept as
 * indexes into config.steps (every step in file order when it is absent),
 * and the check that accepted mail goes somewhere (a data step that stores).
 */
#include "autoconf.h"
#include "config.h"
#include "config_loader.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int
has_named_steps(const struct config *c)
{
	int i;

	for (i = 0; i < c->nsteps; i++)
		if (!c->steps[i].legacy)
			return 1;
	return 0;
}

int
endpoint_has_stage(const struct config *c, const struct endpoint *ep, enum hook_kind kind)
{
	int i;

	for (i = 0; i < ep->npipeline; i++)
		if (c->steps[ep->pipeline[i]].stages & STEP_STAGE(kind))
			return 1;
	return 0;
}

/* A data step that can take the message: an exec or policy step. */
static int
has_storing_step(const struct config *c, const struct endpoint *ep)
{
	int i;

	for (i = 0; i < ep->npipeline; i++) {
		const struct step *st = &c->steps[ep->pipeline[i]];
		if (st->kind != STEP_MILTER && (st->stages & STEP_STAGE(HOOK_DATA)))
			return 1;
	}
	return 0;
}

static int
pipeline_names(struct loader *ld, const char *section, const char *v, struct config *c,
    struct endpoint *ep)
{
	char *copy, *w[CONFIG_MAX_STEPS + 1];
	int n, i, j;

	if ((copy = strdup(v)) == NULL)
		return loader_fail(ld, section, "pipeline", "out of memory");
	n = split_words(copy, w, CONFIG_MAX_STEPS);
	if (n <= 0) {
		free(copy);
		return loader_fail(ld, section, "pipeline", n == 0 ? "empty: name the steps in order" :
		    "more than %d steps", CONFIG_MAX_STEPS);
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < c->nsteps && strcasecmp(c->steps[j].name, w[i]) != 0; j++)
			;
		if (j == c->nsteps) {
			loader_fail(ld, section, "pipeline", "no step named '%s' (define [hook.%s] or [milter.%s], or use a [hooks] stage name)",
			    w[i], w[i], w[i]);
			free(copy);
			return -1;
		}
		if (memchr(ep->pipeline, j, (size_t)ep->npipeline) != NULL) {
			loader_fail(ld, section, "pipeline", "'%s' is listed twice", w[i]);
			free(copy);
			return -1;
		}
		ep->pipeline[ep->npipeline++] = (unsigned char)j;
	}
	free(copy);
	return 0;
}

/* The endpoint's pipeline: its `pipeline` key, or every step in order. */
int
load_pipeline(struct loader *ld, const char *section, struct config *c, struct endpoint *ep)
{
	const char *v = loader_get(ld, section, "pipeline");
	int i;

	ep->npipeline = 0;
	if (v != NULL) {
		if (pipeline_names(ld, section, v, c, ep) < 0)
			return -1;
	} else {
		for (i = 0; i < c->nsteps; i++)
			ep->pipeline[ep->npipeline++] = (unsigned char)i;
	}
	if (!has_storing_step(c, ep)) {
		if (v == NULL && !has_named_steps(c))
			return loader_fail(ld, "hooks", "data", "no data hook: set one (e.g. postern-maildir DIR) so that accepted mail goes somewhere");
		return loader_fail(ld, section, "pipeline", "no data step: accepted mail must go somewhere (add a step with stage = data, e.g. postern-maildir DIR)");
	}
	return 0;
}
