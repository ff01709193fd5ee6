/*
 * lang: the languages a page speaks. The config key `lang` and a challenge's
 * own `lang` field both hold one of these.
 */
#ifndef MNMFA_LANG_H
#define MNMFA_LANG_H

enum lang { LANG_ES = 0, LANG_EN = 1 };

#endif
