// xmldocs: parses documents with the real libxml2, queries them with XPath, frees most of them and
// forgets two (the bug: a lost xmlDocPtr). Every node, attribute and dictionary string of a
// forgotten document leaks with it. Prints READY when the leaks exist, then waits for a line (or
// EOF) on stdin and exits normally (after xmlCleanupParser).
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <stdio.h>
#include <string.h>

#define DOCS 17

static xmlDocPtr parse(int i) {
  char buf[4096];
  int n = snprintf(buf, sizeof buf, "<?xml version=\"1.0\"?><orders id=\"%d\">", i);
  for (int k = 0; k < 8 + i % 5; k++) {
    n += snprintf(buf + n, sizeof buf - (size_t)n,
                  "<order id=\"o%d-%d\" state=\"%s\"><item sku=\"sku-%d\" qty=\"%d\">"
                  "a line item with some text in it, %d</item><note>note %d</note></order>",
                  i, k, k % 2 ? "open" : "closed", k * 7, k + 1, k, k);
  }
  snprintf(buf + n, sizeof buf - (size_t)n, "</orders>");
  return xmlReadMemory(buf, (int)strlen(buf), "orders.xml", NULL, 0);
}

static int count_open(xmlDocPtr doc) {
  xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  xmlXPathObjectPtr r = xmlXPathEvalExpression((const xmlChar *)"//order[@state='open']", ctx);
  int n = r && r->nodesetval ? r->nodesetval->nodeNr : 0;
  xmlXPathFreeObject(r);
  xmlXPathFreeContext(ctx);
  return n;
}

int main(void) {
  xmlInitParser();
  xmlDocPtr kept[DOCS] = {0};
  int open = 0;
  for (int i = 0; i < DOCS; i++) {
    xmlDocPtr doc = parse(i);
    open += count_open(doc);
    if (i == 5 || i == 11) {
      doc = NULL;  // the bug: the only pointer to the document is overwritten
    } else if (i % 3 == 0) {
      kept[i] = doc;  // kept: still reachable at READY
    } else {
      xmlFreeDoc(doc);
    }
  }
  printf("READY %d open orders\n", open);
  fflush(stdout);
  char line[64];
  if (!fgets(line, sizeof line, stdin)) line[0] = 0;
  for (int i = 0; i < DOCS; i++) xmlFreeDoc(kept[i]);
  xmlCleanupParser();
  return 0;
}
