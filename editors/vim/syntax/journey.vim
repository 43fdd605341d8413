" Vim syntax file
" Language:   Journey (.journey customer journeys as code)
" Reference:  grammar/journey.ebnf, docs/decisions.md

if exists("b:current_syntax")
  finish
endif

let s:cpo_save = &cpo
set cpo&vim

syn case match
syn iskeyword @,48-57,_,192-255
syn sync fromstart

" Comments -----------------------------------------------------------------------------
syn keyword journeyTodo contained TODO FIXME XXX NOTE
syn match   journeyComment "#.*$" contains=journeyTodo,@Spell

" Literals: at the same start the item defined last wins, so the more specific come last.
syn match journeyInteger    "\<\d\+\>"
syn match journeyDecimal    "\<\d\+\.\d\+\>"
syn match journeyDuration   "\<\d\+[smhdw]\>"
syn match journeyPercentage "\<\d\+\%(\.\d\+\)\=%"
syn match journeyTime       "\<\d\{1,2}:\d\{2}\>"
syn match journeyDate       "\<\d\{4}-\d\{2}-\d\{2}\>"
" An instant (tests): defined after the date, so it wins where both match.
syn match journeyInstant    "\<\d\{4}-\d\{2}-\d\{2}T\d\{2}:\d\{2}\%(:\d\{2}\)\=\%(Z\|[+-]\d\{2}:\d\{2}\)"

syn keyword journeyBoolean true false
syn keyword journeyNone    none

" Strings, with {expr} interpolation; {{ and }} are literal braces.
syn region journeyString start=+"+ skip=+\\\\\|\\"+ end=+"+ end=+$+
      \ contains=journeyEscape,journeyBadEscape,journeyInterpolation,journeyBraceEscape,journeyLoneBrace,@Spell
syn match  journeyBadEscape +\\.+ contained
syn match  journeyEscape    +\\[\\"nt]+ contained
syn match  journeyLoneBrace "}" contained
syn region journeyInterpolation matchgroup=journeyInterpolationDelim start="{" end="}" end="$"
      \ contained contains=@journeyExpression
syn match  journeyBraceEscape "{{\|}}" contained

" Operators and names ---------------------------------------------------------------------
syn match journeyOptional "?"
syn match journeyOperator "??\|[=!<>]=\|[<>+*/=-]"
syn keyword journeyLogical and or not
syn keyword journeyBuiltin now today
syn match journeyProfile "\<profile\>"
" `.name` field access (no highlight of its own; keeps `profile.email` from looking like a channel)
syn match journeyMember "\.\s*\h\w*"
" `name:` in a message, template or declaration block
syn match journeyProperty "\<\h\w*\>\ze\s*:"

" History queries: count(EVENT ...), exists(...), sum(EVENT.FIELD ...), last(...), days_since(...)
syn match journeyHistory "\<\%(count_all\|count\|exists\|sum\|last\|days_since\|top\|also\)\>\ze\s*("
" Built-in functions: size(LIST), upper(S), format(VALUE, "PATTERN"), …; membership `in`
syn match journeyFunction "\<\%(size\|upper\|lower\|capitalize\|join\|percent\|format\)\>\ze\s*("
syn match journeyLogical "\.\@<!\<in\>"
syn match journeyQueryEvent "\%(\<\%(count_all\|count\|exists\|sum\|last\|days_since\|top\|also\)\s*(\s*\)\@<=\h\w*"

syn cluster journeyExpression contains=journeyString,journeyInteger,journeyDecimal,journeyDuration,
      \journeyPercentage,journeyTime,journeyDate,journeyBoolean,journeyNone,journeyOptional,
      \journeyOperator,journeyLogical,journeyBuiltin,journeyProfile,journeyMember,journeyHistory,
      \journeyQueryEvent,journeyFunction,journeyControl

" Keywords --------------------------------------------------------------------------------
syn keyword journeyDeclaration journey nextgroup=journeyName skipwhite
syn keyword journeyDeclaration event   nextgroup=journeyEventName skipwhite
syn keyword journeyDeclaration policy
" `profile {` declares the profile; `profile.x` elsewhere is the profile variable
syn match   journeyDeclaration "\<profile\>\ze\s*\%({\|#\|$\)"

syn keyword journeyControl on      nextgroup=journeyDaily,journeyEventName skipwhite
syn keyword journeyControl goal for nextgroup=journeyEach,journeyEventName skipwhite
" `for each profile` (a catalog event's audience); `catalog event NAME`
syn match journeyEach "\<each\>\ze\s\+profile\>" contained
syn match journeyDeclaration "\<catalog\>\ze\s\+event\>"
syn keyword journeyControl as      nextgroup=journeyAlias skipwhite
syn keyword journeyControl reentry nextgroup=journeyReentryMode skipwhite
syn keyword journeyControl where when exit wait within until set template
syn keyword journeyConditional if split
syn keyword journeyConditional else nextgroup=journeyChannelKind skipwhite

syn match journeyName        "\<\h\w*\>" contained
syn match journeyEventName   "\<\h\w*\>" contained
syn match journeyAlias       "\<\h\w*\>" contained
syn match journeyDaily       "\<daily\ze\s\+at\>" contained nextgroup=journeyAt skipwhite
syn match journeyAt          "\<at\>" contained
syn match journeyReentryMode "\<\%(never\|always\|after\)\>" contained
syn match journeyChannelKind "\<\%(push\|web_push\|email\|sms\|whatsapp\|wallet\|in_app\)\>" contained

" A send: CHANNEL { ... } / CHANNEL "..." / CHANNEL template "..." (and after `else`, above)
syn match journeyChannel "\.\@1<!\<\%(push\|web_push\|email\|sms\|whatsapp\|wallet\|in_app\)\>\ze\s*\%({\|\"\|template\>\)"

" A split branch label: 20% holdout { ... }
syn match journeySplitLabel "\%(%\s*\)\@<=\<\h\w*\>\ze\s*{"

" channel KIND address EXPR [consent EXPR], on one line
syn region journeyChannelDecl matchgroup=journeyDeclaration start="\<channel\>" end="$"
      \ contains=journeyChannelKind,journeyChannelWord,journeyComment,@journeyExpression
syn keyword journeyChannelWord contained address consent

" The { name: type } blocks of `profile` and `event` declarations
syn region journeyAttributes start="\%(\%(^\|[^.]\)\<\%(profile\|event\s\+\h\w*\)\s*\)\@<={" end="}"
      \ contains=journeyComment,journeyProperty,journeyType,journeyOptional,journeyControl,journeyDeclaration
syn keyword journeyType contained bool int decimal money string url date time duration list

" policy { cap N messages per DURATION / quiet hours HH:MM to HH:MM }
syn region journeyPolicy start="\%(\<policy\s*\)\@<={" end="}"
      \ contains=journeyComment,journeyPolicyWord,journeyInteger,journeyDuration,journeyTime,journeyString
syn keyword journeyPolicyWord contained cap messages per quiet hours to currency locale

" Tests: `test "…" {`, and the contextual words that start a test's lines or make an event happen.
syn match journeyDeclaration "^\s*\zstest\ze\s\+\""
syn match journeyDeclaration "^\s*\zsgiven\s\+profile\>"
syn match journeyControl     "^\s*\zs\%(expect\|at\|only\)\>"
syn match journeyControl     "\<does\>"

" Highlighting ----------------------------------------------------------------------------
hi def link journeyComment            Comment
hi def link journeyTodo               Todo
hi def link journeyString             String
hi def link journeyEscape             SpecialChar
hi def link journeyBraceEscape        SpecialChar
hi def link journeyBadEscape          Error
hi def link journeyLoneBrace          Error
hi def link journeyInterpolationDelim Delimiter
hi def link journeyInteger            Number
hi def link journeyDecimal            Float
hi def link journeyDuration           Number
hi def link journeyPercentage         Number
hi def link journeyTime               Constant
hi def link journeyDate               Constant
hi def link journeyInstant            Constant
hi def link journeyBoolean            Boolean
hi def link journeyNone               Constant
hi def link journeyOptional           Operator
hi def link journeyOperator           Operator
hi def link journeyLogical            Operator
hi def link journeyBuiltin            Special
hi def link journeyProfile            Special
hi def link journeyProperty           Identifier
hi def link journeyHistory            Function
hi def link journeyFunction           Function
hi def link journeyQueryEvent         Type
hi def link journeyDeclaration        Keyword
hi def link journeyControl            Keyword
hi def link journeyEach               Keyword
hi def link journeyConditional        Conditional
hi def link journeyName               Function
hi def link journeyEventName          Type
hi def link journeyAlias              Identifier
hi def link journeyDaily              Keyword
hi def link journeyAt                 Keyword
hi def link journeyReentryMode        Keyword
hi def link journeyChannelWord        Keyword
hi def link journeyPolicyWord         Keyword
hi def link journeyChannel            Structure
hi def link journeyChannelKind        Structure
hi def link journeySplitLabel         Label
hi def link journeyType               Type

let b:current_syntax = "journey"

let &cpo = s:cpo_save
unlet s:cpo_save
